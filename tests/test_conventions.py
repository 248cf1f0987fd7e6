"""Momentum/decay/variance conversions, and the defaults table against the installed Keras."""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.compat import builtin_bn_accepts
from companion.conventions import (
    FRAMEWORK_DEFAULTS,
    TF1_MIGRATION,
    biased_variance,
    conventions_table,
    effective_window,
    keras_momentum_from_tf1_decay,
    keras_momentum_from_torch,
    migration_table,
    moving_average_trace,
    moving_average_update,
    tf1_decay_from_keras,
    torch_momentum_from_keras,
    unbiased_variance,
)

KERAS = next(c for c in FRAMEWORK_DEFAULTS if c.framework == "Keras 3")
TORCH = next(c for c in FRAMEWORK_DEFAULTS if c.framework == "PyTorch")
unit = st.floats(0.0, 1.0, allow_nan=False)


def test_known_conversions() -> None:
    assert keras_momentum_from_torch(0.1) == pytest.approx(0.9, abs=1e-15)
    assert torch_momentum_from_keras(0.99) == pytest.approx(0.01, abs=1e-15)
    assert tf1_decay_from_keras(0.999) == 0.999
    assert keras_momentum_from_tf1_decay(0.9) == 0.9
    assert keras_momentum_from_torch(0.0) == 1.0 and keras_momentum_from_torch(1.0) == 0.0


@given(unit)
def test_round_trips(m: float) -> None:
    assert math.isclose(torch_momentum_from_keras(keras_momentum_from_torch(m)), m, abs_tol=1e-15)
    assert keras_momentum_from_tf1_decay(tf1_decay_from_keras(m)) == m


@given(unit, st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))
def test_converted_momentum_gives_the_same_update(m: float, old: float, new: float) -> None:
    keras_style = moving_average_update(old, new, keras_momentum_from_torch(m), convention="keras")
    torch_style = moving_average_update(old, new, m, convention="torch")
    assert math.isclose(float(keras_style), float(torch_style), rel_tol=1e-12, abs_tol=1e-9)


def test_update_formulas_and_no_mutation() -> None:
    moving = np.array([0.0, 10.0])
    batch = np.array([1.0, 0.0])
    np.testing.assert_allclose(moving_average_update(moving, batch, 0.9), [0.1, 9.0])
    np.testing.assert_allclose(
        moving_average_update(moving, batch, 0.9, convention="torch"), [0.9, 1.0]
    )
    np.testing.assert_array_equal(moving, [0.0, 10.0])


def test_momentum_0_9_means_opposite_things() -> None:
    """The snippet pattern: 0.9 read as a decay vs 0.9 given to torch.nn.BatchNorm*."""
    rng = np.random.default_rng(0)
    batch_means = 5.0 + rng.normal(0.0, 1.0, size=400)  # noisy estimates of a mean of 5
    as_decay = moving_average_trace(batch_means, 0.9, convention="keras")[100:]
    as_torch = moving_average_trace(batch_means, 0.9, convention="torch")[100:]
    torch_default = moving_average_trace(batch_means, 0.1, convention="torch")[100:]
    # torch's 0.1 is Keras's 0.9, to rounding.
    np.testing.assert_allclose(torch_default, as_decay, rtol=1e-12)
    # 0.9 given to torch keeps 90 % of each new batch: it tracks the batch, not the average.
    assert np.corrcoef(as_torch, batch_means[100:])[0, 1] > 0.99
    assert np.std(as_torch) > 3 * np.std(as_decay)
    # Its spread is close to a single batch's (sqrt(0.9/1.1) of it); the decay's is ~sqrt(1/19).
    assert np.std(as_torch) == pytest.approx(np.sqrt(0.9 / 1.1), rel=0.15)
    assert np.std(as_decay) == pytest.approx(np.sqrt(0.1 / 1.9), rel=0.25)


def test_trace_shapes_and_initial_value() -> None:
    trace = moving_average_trace(np.ones((3, 2)), 0.5, initial=1.0)
    np.testing.assert_array_equal(trace, np.ones((3, 2)))
    np.testing.assert_allclose(moving_average_trace([2.0, 2.0], 0.5), [1.0, 1.5])


def test_effective_window() -> None:
    assert effective_window(0.99) == pytest.approx(100.0)
    assert effective_window(0.0) == 1.0
    assert effective_window(1.0) == math.inf


def test_variance_conversions() -> None:
    x = np.random.default_rng(1).normal(size=(7, 3))
    biased, unbiased = x.var(axis=0), x.var(axis=0, ddof=1)
    np.testing.assert_allclose(unbiased_variance(biased, 7), unbiased, rtol=1e-12)
    np.testing.assert_allclose(biased_variance(unbiased, 7), biased, rtol=1e-12)
    assert unbiased_variance(1.0, 2) == 2.0
    assert isinstance(biased_variance(2.0, 2), float)


@given(st.floats(0.0, 1e6), st.integers(2, 10_000))
def test_variance_round_trip(var: float, m: int) -> None:
    assert math.isclose(biased_variance(unbiased_variance(var, m), m), var, rel_tol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_momentum_out_of_range_is_rejected(bad: float) -> None:
    for convert in (
        keras_momentum_from_torch,
        torch_momentum_from_keras,
        tf1_decay_from_keras,
        keras_momentum_from_tf1_decay,
        effective_window,
    ):
        with pytest.raises(ValueError, match=str(bad)):
            convert(bad)
    with pytest.raises(ValueError, match=str(bad)):
        moving_average_update(0.0, 1.0, bad)


@pytest.mark.parametrize("bad", ["0.9", None, True])
def test_momentum_of_wrong_type_is_rejected(bad) -> None:
    with pytest.raises(TypeError, match="real number"):
        keras_momentum_from_torch(bad)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="got 1"):
        unbiased_variance(1.0, 1)
    with pytest.raises(ValueError, match="got 0"):
        biased_variance(1.0, 0)
    with pytest.raises(TypeError, match="2.5"):
        unbiased_variance(1.0, 2.5)
    with pytest.raises(ValueError, match="non-negative"):
        unbiased_variance(np.array([1.0, -1.0]), 4)
    with pytest.raises(ValueError, match="'pytorch'"):
        moving_average_update(0.0, 1.0, 0.5, convention="pytorch")
    with pytest.raises(ValueError, match=r"\(0,\)"):
        moving_average_trace([], 0.5)


def test_keras_row_matches_the_installed_layer() -> None:
    layer = keras.layers.BatchNormalization()
    assert layer.momentum == KERAS.default
    assert layer.epsilon == KERAS.epsilon
    assert layer.scale is KERAS.learns_gamma
    assert KERAS.weights == "old"
    params = inspect.signature(keras.layers.BatchNormalization.__init__).parameters
    assert params[KERAS.argument].default == KERAS.default


def test_keras_weights_the_old_value_and_stores_the_biased_variance() -> None:
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(10, 4)).astype("float32")
    layer = keras.layers.BatchNormalization(momentum=0.75)
    layer(x, training=True)
    # Moving mean starts at 0 and moving variance at 1.
    expected_mean = moving_average_update(0.0, x.mean(axis=0), 0.75, convention="keras")
    expected_var = moving_average_update(1.0, x.var(axis=0), 0.75, convention="keras")
    np.testing.assert_allclose(layer.moving_mean.numpy(), expected_mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), expected_var, rtol=1e-5)
    unbiased = moving_average_update(1.0, x.var(axis=0, ddof=1), 0.75, convention="keras")
    assert not np.allclose(layer.moving_variance.numpy(), unbiased, rtol=1e-3)


def test_torch_row_is_keras_momentum_0_9() -> None:
    assert TORCH.weights == "new"
    assert TORCH.keras_momentum == pytest.approx(0.9)
    assert TORCH.epsilon == 1e-5 and TORCH.stored_variance == "unbiased"


def test_conventions_table() -> None:
    table = conventions_table()
    assert list(table.index) == [c.framework for c in FRAMEWORK_DEFAULTS]
    assert table.loc["PyTorch", "keras momentum"] == 0.9
    assert table.loc["TF1 contrib", "window (batches)"] == 1000
    assert table.loc["Keras 3", "epsilon"] == keras.layers.BatchNormalization().epsilon
    # BN's epsilon is not Adam's 1e-8 anywhere.
    assert (table["epsilon"] >= 1e-5).all()


def test_migration_table_reads_the_installed_defaults() -> None:
    table = migration_table()
    assert len(table) == len(TF1_MIGRATION)
    assert table.loc["decay", "Keras 3 argument"] == "momentum"
    assert table.loc["decay", "Keras default"] == repr(keras.layers.BatchNormalization().momentum)
    assert table.loc["scale", "TF1 default"] == "False"
    assert table.loc["scale", "Keras default"] == "True"
    assert table.loc["updates_collections", "Keras 3 argument"] == "-"
    # renorm arrived in Keras 3.14: older Keras (Colab's 3.10) gets a visible note instead.
    want = "False" if builtin_bn_accepts("renorm") else "needs Keras >= 3.14"
    assert table.loc["renorm", "Keras default"] == want


def test_migration_table_catches_a_renamed_argument() -> None:
    stale = TF1_MIGRATION[:1] + (TF1_MIGRATION[0]._replace(keras_argument="decay"),)
    with pytest.raises(ValueError, match="'decay'"):
        migration_table(stale)


def _install_bn_without_renorm(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """Make ``keras.layers.BatchNormalization`` look like Keras ``version``'s, minus renorm."""
    real = inspect.signature(keras.layers.BatchNormalization.__init__)
    kept = [p for name, p in real.parameters.items() if not name.startswith("renorm")]

    def __init__(self, *args, **kwargs):  # pragma: no cover - only its signature is read
        raise AssertionError("migration_table must not build the layer")

    __init__.__signature__ = real.replace(parameters=kept)
    old_layer = type("BatchNormalization", (), {"__init__": __init__})
    monkeypatch.setattr(keras.layers, "BatchNormalization", old_layer)
    monkeypatch.setattr(keras, "__version__", version)


def test_migration_table_marks_arguments_newer_than_the_installed_keras(monkeypatch) -> None:
    _install_bn_without_renorm(monkeypatch, "3.10.0")
    table = migration_table()
    assert len(table) == len(TF1_MIGRATION)
    assert table.loc["renorm", "Keras default"] == "needs Keras >= 3.14"
    assert table.loc["renorm_decay", "Keras 3 argument"] == "renorm_momentum"
    assert table.loc["renorm_decay", "Keras default"] == "needs Keras >= 3.14"
    assert table.loc["decay", "Keras default"] == "0.99"


def test_migration_table_raises_when_a_new_enough_keras_lacks_an_argument(monkeypatch) -> None:
    _install_bn_without_renorm(monkeypatch, "3.15.0")
    with pytest.raises(ValueError, match=r"Keras 3\.15\.0\) has no argument 'renorm'"):
        migration_table()
