"""companion.preprocessing against scikit-learn's scalers and keras.layers.Normalization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import preprocessing as skp

from companion.preprocessing import (
    MinMaxScaler,
    NotFittedError,
    ScalingStats,
    StandardScaler,
    apply_scaling,
    fit_minmax,
    fit_standard,
    invert_scaling,
)

SCALERS = [(StandardScaler, skp.StandardScaler), (MinMaxScaler, skp.MinMaxScaler)]


def features(n: int, d: int, seed: int = 0, dtype: type = np.float64) -> np.ndarray:
    """Features whose scales span five orders of magnitude, like the wine data's."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, 3, d)
    return (rng.normal(size=(n, d)) * scales + 3 * scales).astype(dtype)


@pytest.mark.parametrize(("ours", "theirs"), SCALERS, ids=["standard", "minmax"])
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (50, 1), (133, 13)])
def test_matches_scikit_learn(ours, theirs, shape) -> None:
    x_train, x_test = features(*shape, seed=1), features(7, shape[1], seed=2)
    mine, ref = ours().fit(x_train), theirs().fit(x_train)
    np.testing.assert_allclose(mine.transform(x_train), ref.transform(x_train), atol=1e-12)
    np.testing.assert_allclose(mine.transform(x_test), ref.transform(x_test), atol=1e-9)
    np.testing.assert_allclose(
        mine.inverse_transform(x_test), ref.inverse_transform(x_test), rtol=1e-12
    )


def test_attributes_match_scikit_learn() -> None:
    x = features(40, 5)
    ours, ref = StandardScaler().fit(x), skp.StandardScaler().fit(x)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-12)
    ours, ref = MinMaxScaler().fit(x), skp.MinMaxScaler().fit(x)
    np.testing.assert_array_equal(ours.data_min_, ref.data_min_)
    np.testing.assert_array_equal(ours.data_range_, ref.data_range_)


def test_matches_keras_normalization_with_population_variance() -> None:
    keras = pytest.importorskip("keras")
    x_train, x_test = features(120, 6, seed=3), features(30, 6, seed=4)
    layer = keras.layers.Normalization(axis=-1)
    layer.adapt(x_train)
    expected = np.asarray(layer(x_test))
    ours = StandardScaler().fit(x_train)
    np.testing.assert_allclose(ours.transform(x_test), expected, rtol=1e-4, atol=1e-5)
    # Keras divides by the population (ddof=0) standard deviation, as we do.
    np.testing.assert_allclose(np.asarray(layer.variance).ravel(), ours.scale_**2, rtol=1e-5)
    assert not np.allclose(ours.scale_**2, x_train.var(axis=0, ddof=1), rtol=1e-3)


@pytest.mark.parametrize(("ours", "theirs"), SCALERS, ids=["standard", "minmax"])
@pytest.mark.parametrize("value", [0.0, 0.1, -7.3, 1e6])
def test_constant_feature_maps_to_zero_without_nan(ours, theirs, value) -> None:
    x = features(25, 3)
    x[:, 1] = value  # 0.1 is not exact in binary: its float mean is not exactly 0.1
    out = ours().fit(x).transform(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 1], 0.0, atol=1e-14 * max(1.0, abs(value)))
    np.testing.assert_allclose(out, theirs().fit(x).transform(x), atol=1e-12)
    stats = fit_standard(x) if ours is StandardScaler else fit_minmax(x)
    assert stats.scale[1] == 1.0  # scikit-learn's choice for zero std / zero range
    # Unseen values of the constant feature are shifted but not blown up.
    other = x[:2].copy()
    other[:, 1] = value + 1.0
    np.testing.assert_allclose(ours().fit(x).transform(other)[:, 1], 1.0)


def test_single_sample_is_constant() -> None:
    x = np.array([[3.0, -2.0]])
    np.testing.assert_array_equal(StandardScaler().fit_transform(x), [[0.0, 0.0]])
    np.testing.assert_array_equal(MinMaxScaler().fit_transform(x), [[0.0, 0.0]])


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_fit_uses_only_the_data_it_is_given(scaler) -> None:
    x_train, x_test = features(60, 4, seed=5), features(60, 4, seed=6) + 10.0
    fitted = scaler().fit(x_train)
    np.testing.assert_allclose(fitted.transform(x_test), scaler().fit(x_train).transform(x_test))
    assert not np.allclose(fitted.transform(x_test), scaler().fit(x_test).transform(x_test))


def test_z_scores_of_training_data() -> None:
    z = StandardScaler().fit_transform(features(80, 5))
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)


def test_min_max_of_training_data() -> None:
    m = MinMaxScaler().fit_transform(features(80, 5))
    np.testing.assert_array_equal(m.min(axis=0), 0.0)
    np.testing.assert_allclose(m.max(axis=0), 1.0, rtol=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(1, 4)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    )
)
def test_any_data_gives_finite_values_like_scikit_learn(x: np.ndarray) -> None:
    for scaler, reference in SCALERS:
        fitted = scaler().fit(x)
        out = fitted.transform(x)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, reference().fit(x).transform(x), rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(fitted.inverse_transform(out), x, rtol=1e-9, atol=1e-6)
    m = MinMaxScaler().fit_transform(x)
    assert np.all((m >= 0.0) & (m <= 1.0 + 1e-12))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(np.float16, np.float16), (np.float32, np.float32), (np.float64, np.float64),
     (np.int64, np.float64), (np.uint8, np.float64), (np.bool_, np.float64)],
)  # fmt: skip
def test_output_dtype(dtype, expected) -> None:
    x = (features(10, 3) % 50).astype(dtype)
    for scaler in (StandardScaler(), MinMaxScaler()):
        assert scaler.fit_transform(x).dtype == expected
        assert scaler.inverse_transform(scaler.transform(x)).dtype == expected


def test_float32_input_matches_float64_closely() -> None:
    x = features(50, 4)
    out32 = StandardScaler().fit_transform(x.astype(np.float32))
    np.testing.assert_allclose(out32, StandardScaler().fit_transform(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_inputs_are_not_mutated(scaler) -> None:
    x_train, x_test = features(30, 3, seed=7), features(5, 3, seed=8)
    train_copy, test_copy = x_train.copy(), x_test.copy()
    fitted = scaler().fit(x_train)
    fitted.transform(x_test)
    fitted.fit_transform(x_train)
    fitted.inverse_transform(x_test)
    np.testing.assert_array_equal(x_train, train_copy)
    np.testing.assert_array_equal(x_test, test_copy)


def test_pure_functions_return_new_arrays() -> None:
    x = features(10, 2)
    stats = fit_standard(x)
    assert isinstance(stats, ScalingStats)
    out = apply_scaling(x, stats)
    assert not np.shares_memory(out, x)
    np.testing.assert_allclose(invert_scaling(out, stats), x, rtol=1e-12)


# Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize(
    ("bad", "dtype"),
    [
        (np.array([["a", "b"], ["c", "d"]]), "<U1"),
        (np.array([[1, None], [2, 3]], dtype=object), "object"),
        (np.array([[1 + 2j, 3.0]]), "complex128"),
    ],
)
def test_non_numeric_input_raises_type_error(scaler, bad, dtype) -> None:
    with pytest.raises(TypeError, match=rf"x must be a real numeric array.*dtype {dtype}"):
        scaler().fit(bad)
    fitted = scaler().fit(np.ones((3, 2)))
    with pytest.raises(TypeError, match=rf"x must be a real numeric array.*dtype {dtype}"):
        fitted.transform(bad)
    with pytest.raises(TypeError, match=rf"x_scaled must be a real numeric.*dtype {dtype}"):
        fitted.inverse_transform(bad)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_feature_count_mismatch_quotes_both_shapes(scaler) -> None:
    fitted = scaler().fit(features(20, 13))
    name = scaler.__name__
    message = rf"x has shape \(5, 12\).*{name} was fitted on shape \(20, 13\)"
    with pytest.raises(ValueError, match=message):
        fitted.transform(features(5, 12))
    with pytest.raises(ValueError, match=r"x_scaled has shape \(5, 14\).*\(20, 13\)"):
        fitted.inverse_transform(features(5, 14))


def test_pure_function_mismatch_quotes_both_shapes() -> None:
    stats = fit_minmax(features(20, 3))
    with pytest.raises(ValueError, match=r"x has shape \(4, 2\).*fitted on 3 features"):
        apply_scaling(features(4, 2), stats)
    with pytest.raises(TypeError, match="stats must be a ScalingStats"):
        apply_scaling(features(4, 3), (0.0, 1.0))


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_use_before_fit_raises_not_fitted_error(scaler) -> None:
    unfitted = scaler()
    message = rf"This {scaler.__name__} is not fitted yet: call fit\(x_train\) first"
    with pytest.raises(NotFittedError, match=message):
        unfitted.transform(np.ones((2, 2)))
    with pytest.raises(NotFittedError, match=message):
        unfitted.inverse_transform(np.ones((2, 2)))
    # NotFittedError is a ValueError (and an AttributeError, so hasattr() is False).
    with pytest.raises(ValueError, match=message):
        unfitted.transform(np.ones((2, 2)))
    assert not hasattr(unfitted, "mean_" if scaler is StandardScaler else "data_min_")
    assert "unfitted" in repr(unfitted)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.ones(5), r"x must be 2-D with shape \(N, D\).*got shape \(5,\)"),
        (np.ones((2, 3, 4)), r"x must be 2-D .*got shape \(2, 3, 4\)"),
        (np.float64(3.0), r"x must be 2-D .*got shape \(\)"),
        (np.ones((0, 3)), r"at least one sample and one feature, got shape \(0, 3\)"),
        (np.ones((4, 0)), r"at least one sample and one feature, got shape \(4, 0\)"),
        (np.array([[1.0, np.nan]]), "x contains NaN or infinity"),
        (np.array([[1.0, np.inf]]), "x contains NaN or infinity"),
    ],
)
def test_wrong_shape_empty_or_non_finite_raises_value_error(scaler, bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        scaler().fit(bad)
    with pytest.raises(ValueError, match=message):
        scaler().fit(np.ones((3, 3))).transform(bad)
