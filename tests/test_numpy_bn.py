"""Tests of companion.numpy_bn against a float64 reference, Keras, GradientTape and numerics."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from companion.gradcheck import numerical_gradient_array, relative_error
from companion.numpy_bn import (
    BatchNorm,
    BatchNormCache,
    batch_moments,
    batch_norm_backward,
    batch_norm_backward_graph,
    batch_norm_forward,
    batch_norm_inference,
    naive_variance,
)

# (shape, axis): (N, D), (N, H, W, C), (N, C, H, W) with axis=1, rank 3, negative axes.
SHAPES_AXES = [
    ((8, 5), -1),
    ((6, 3), 1),
    ((4, 3, 3, 2), -1),
    ((4, 2, 3, 3), 1),
    ((4, 2, 3, 3), -3),
    ((5, 4, 3), 1),
    ((5, 4, 3), -1),
]
IDS = [f"{shape}-axis{axis}" for shape, axis in SHAPES_AXES]
BACKWARDS = [batch_norm_backward, batch_norm_backward_graph]


def make_inputs(shape, axis, seed=0, dtype=np.float64):
    """x (offset and scaled so the statistics matter), gamma, beta, dy."""
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    x = (rng.standard_normal(shape) * 2.0 + 3.0).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, channels)
    beta = rng.standard_normal(channels)
    dy = rng.standard_normal(shape)
    return x, gamma, beta, dy


def reference_forward(x, gamma, beta, axis, epsilon=1e-3):
    """Plain float64 BN with the feature axis moved last: independent of the package."""
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    mean, var = rows.mean(axis=0), rows.var(axis=0)
    y = gamma * (moved - mean) / np.sqrt(var + epsilon) + beta
    return np.moveaxis(y, -1, axis), mean, var


# ---------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES, ids=IDS)
def test_forward_matches_reference_and_caches_batch_statistics(shape, axis):
    x, gamma, beta, _ = make_inputs(shape, axis)
    y, cache = batch_norm_forward(x, gamma, beta, axis=axis)
    y_ref, mean_ref, var_ref = reference_forward(x, gamma, beta, axis)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    assert isinstance(cache, BatchNormCache)
    np.testing.assert_allclose(cache.mean, mean_ref, rtol=1e-12)
    np.testing.assert_allclose(cache.var, var_ref, rtol=1e-12)
    assert cache.count == x.size // shape[axis]
    assert cache.axis == axis % len(shape)
    assert axis % len(shape) not in cache.reduce_axes and len(cache.reduce_axes) == len(shape) - 1


def test_negative_axis_means_the_same_as_positive():
    x, gamma, beta, _ = make_inputs((4, 2, 3, 3), 1)
    np.testing.assert_array_equal(
        batch_norm_forward(x, gamma, beta, axis=-3)[0],
        batch_norm_forward(x, gamma, beta, axis=1)[0],
    )


def test_channels_first_equals_channels_last_after_transpose():
    x, gamma, beta, _ = make_inputs((4, 2, 3, 3), 1)
    y_first = batch_norm_forward(x, gamma, beta, axis=1)[0]
    y_last = batch_norm_forward(np.moveaxis(x, 1, -1), gamma, beta, axis=-1)[0]
    np.testing.assert_allclose(np.moveaxis(y_last, -1, 1), y_first, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "atol"), [(np.float16, 1e-2), (np.float32, 1e-5), (np.float64, 1e-12)]
)
def test_output_dtype_is_input_dtype(dtype, atol):
    x, gamma, beta, dy = make_inputs((6, 3, 3, 2), -1, dtype=dtype)
    y, cache = batch_norm_forward(x, gamma, beta)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, reference_forward(x, gamma, beta, -1)[0], atol=atol)
    for backward in BACKWARDS:
        assert backward(dy.astype(dtype), cache)[0].dtype == dtype
    assert batch_norm_inference(x, gamma, beta, np.zeros(2), np.ones(2)).dtype == dtype


@pytest.mark.parametrize(("shape", "axis"), [((1, 4), -1), ((1, 3), 1), ((1, 1, 1, 3), -1)])
def test_single_value_per_feature_gives_beta_and_zero_input_gradient(shape, axis):
    x, gamma, beta, dy = make_inputs(shape, axis)
    y, cache = batch_norm_forward(x, gamma, beta, axis=axis)
    np.testing.assert_array_equal(cache.var, 0.0)
    np.testing.assert_array_equal(cache.x_hat, 0.0)
    np.testing.assert_allclose(y, np.broadcast_to(beta, shape).reshape(shape), rtol=0, atol=0)
    for backward in BACKWARDS:
        dx, dgamma, dbeta = backward(dy, cache)
        np.testing.assert_array_equal(dx, 0.0)
        np.testing.assert_array_equal(dgamma, 0.0)
        np.testing.assert_allclose(dbeta, dy.reshape(-1))


def test_inference_matches_formula():
    x, gamma, beta, _ = make_inputs((4, 2, 3, 3), 1)
    moving_mean, moving_var = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    y = batch_norm_inference(x, gamma, beta, moving_mean, moving_var, axis=1, epsilon=1e-2)
    b = (1, 2, 1, 1)
    expected = gamma.reshape(b) * (x - moving_mean.reshape(b)) / np.sqrt(
        moving_var.reshape(b) + 1e-2
    ) + beta.reshape(b)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_no_argument_is_modified():
    x, gamma, beta, dy = make_inputs((4, 3, 3, 2), -1)
    arrays = [x, gamma, beta, dy, np.zeros(2), np.ones(2)]
    before = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False  # an in-place write would raise
    _, cache = batch_norm_forward(x, gamma, beta)
    batch_norm_backward(dy, cache)
    batch_norm_backward_graph(dy, cache)
    batch_norm_inference(x, gamma, beta, arrays[4], arrays[5])
    for a, b in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Backward passes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES, ids=IDS)
def test_backward_matches_numerical_gradients(shape, axis, backward):
    x, gamma, beta, dy = make_inputs(shape, axis, seed=1)
    _, cache = batch_norm_forward(x, gamma, beta, axis=axis)
    dx, dgamma, dbeta = backward(dy, cache)

    def forward(x=x, gamma=gamma, beta=beta):
        return batch_norm_forward(x, gamma, beta, axis=axis)[0]

    assert relative_error(dx, numerical_gradient_array(lambda v: forward(x=v), x, dy)) < 1e-7
    assert (
        relative_error(dgamma, numerical_gradient_array(lambda v: forward(gamma=v), gamma, dy))
        < 1e-7
    )
    assert (
        relative_error(dbeta, numerical_gradient_array(lambda v: forward(beta=v), beta, dy)) < 1e-7
    )


@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES, ids=IDS)
def test_closed_form_equals_graph_version(shape, axis):
    x, gamma, beta, dy = make_inputs(shape, axis, seed=2)
    _, cache = batch_norm_forward(x, gamma, beta, axis=axis)
    for closed, graph in zip(
        batch_norm_backward(dy, cache), batch_norm_backward_graph(dy, cache), strict=True
    ):
        assert closed.shape == graph.shape
        assert relative_error(closed, graph) < 1e-12


def test_input_gradient_sums_to_zero_per_feature():
    # The output does not change when a constant is added to one feature: dx sums to 0.
    x, gamma, beta, dy = make_inputs((6, 2, 3, 3), 1, seed=3)
    _, cache = batch_norm_forward(x, gamma, beta, axis=1)
    dx = batch_norm_backward(dy, cache)[0]
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0.0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Against the built-in Keras layer and tf.GradientTape
# ---------------------------------------------------------------------------------------------

KERAS_CASES = [((16, 5), -1), ((8, 4, 4, 3), -1), ((8, 3, 4, 4), 1)]
KERAS_IDS = ["N,D", "N,H,W,C", "N,C,H,W"]


def keras_layer(shape, axis, gamma, beta, momentum=0.99):
    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=1e-3)
    layer.build(shape)
    channels = shape[axis]
    layer.set_weights([gamma, beta, np.zeros(channels), np.ones(channels)])
    return layer


@pytest.mark.parametrize(("shape", "axis"), KERAS_CASES, ids=KERAS_IDS)
def test_layer_matches_keras_in_training_inference_and_moving_statistics(shape, axis):
    rng = np.random.default_rng(4)
    channels = shape[axis]
    gamma = rng.uniform(0.5, 2.0, channels).astype(np.float32)
    beta = rng.standard_normal(channels).astype(np.float32)
    # momentum 0.9 rather than 0.99 so that three steps move the statistics visibly.
    ours = BatchNorm(channels, axis=axis, momentum=0.9, epsilon=1e-3)
    ours.gamma, ours.beta = gamma.astype(np.float64), beta.astype(np.float64)
    theirs = keras_layer(shape, axis, gamma, beta, momentum=0.9)

    for _ in range(3):
        x = (rng.standard_normal(shape) * 2.0 + 3.0).astype(np.float32)
        y = ours.forward(x, training=True)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, theirs(x, training=True).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance.numpy(), rtol=1e-5)
    assert np.all(ours.moving_variance > 1.5)  # moved from 1 towards the data's variance 4

    x = (rng.standard_normal(shape) * 2.0 + 3.0).astype(np.float32)
    np.testing.assert_allclose(
        ours.forward(x, training=False), theirs(x, training=False).numpy(), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(("shape", "axis"), KERAS_CASES, ids=KERAS_IDS)
def test_backward_matches_gradient_tape_on_keras_layer(shape, axis, backward):
    x, gamma, beta, dy = (a.astype(np.float32) for a in make_inputs(shape, axis, seed=5))
    layer = keras_layer(shape, axis, gamma, beta)
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        loss = tf.reduce_sum(layer(x_tf, training=True) * dy)
    expected = tape.gradient(loss, [x_tf, layer.gamma.value, layer.beta.value])

    _, cache = batch_norm_forward(x, gamma, beta, axis=axis)
    for ours, theirs in zip(backward(dy, cache), expected, strict=True):
        assert ours.dtype == np.float32
        assert relative_error(ours, theirs.numpy()) < 1e-5


# ---------------------------------------------------------------------------------------------
# Numerical stability
# ---------------------------------------------------------------------------------------------

OFFSET_CASES = [((2000, 3), -1), ((40, 3, 8, 8), 1)]


def offset_data(shape):
    """float32 values 1000 ± 0.1: a large offset relative to the spread."""
    rng = np.random.default_rng(6)
    return (1000.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)


def float64_variance(x, axis):
    return np.moveaxis(x.astype(np.float64), axis, -1).reshape(-1, x.shape[axis]).var(axis=0)


@pytest.mark.parametrize(("shape", "axis"), OFFSET_CASES)
def test_statistics_of_large_offset_float32_match_float64(shape, axis):
    x = offset_data(shape)
    expected = float64_variance(x, axis)
    _, var = batch_moments(x, axis=axis)
    np.testing.assert_allclose(var, expected, rtol=1e-3)
    ones = np.ones(shape[axis])
    y, cache = batch_norm_forward(x, ones, 0 * ones, axis=axis)
    np.testing.assert_allclose(cache.var, expected, rtol=1e-3)
    # And so the normalized output keeps float32 accuracy, though x itself has only ~4 digits
    # to the right of the offset.
    y64 = batch_norm_forward(x.astype(np.float64), ones, 0 * ones, axis=axis)[0]
    np.testing.assert_allclose(y, y64, atol=1e-5)


@pytest.mark.parametrize(("shape", "axis"), OFFSET_CASES)
def test_naive_variance_fails_on_large_offset_float32(shape, axis):
    x = offset_data(shape)
    expected = float64_variance(x, axis)
    naive = naive_variance(x, axis=axis)
    assert naive.dtype == np.float32
    relative = np.abs(naive - expected) / expected
    # E[x^2] ~ 1e6 rounds in steps of 0.0625 in float32, against a variance of 0.01.
    assert np.all((relative > 0.1) | (naive <= 0)), (naive, expected)
    # The formula itself is right: in float64 it agrees. The fault is cancellation.
    np.testing.assert_allclose(naive_variance(x.astype(np.float64), axis=axis), expected, rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@st.composite
def batches(draw):
    """(x, axis, gamma, beta): float64 x of rank 2-4, a feature axis, per-feature params."""
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    values = st.floats(-100, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    params = hnp.arrays(np.float64, (shape[axis],), elements=st.floats(0.1, 10))
    return x, axis, draw(params), draw(params) - 5


# Fixed examples (derandomize) and no example database: reproducible runs, no files written.
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)


def per_feature(values, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


@PROPERTY_SETTINGS
@given(batches())
def test_normalized_output_has_zero_mean_and_shrunk_unit_variance(batch):
    x, axis, gamma, beta = batch
    y, _ = batch_norm_forward(x, gamma, beta, axis=axis)
    x_hat = (y - per_feature(beta, x.ndim, axis)) / per_feature(gamma, x.ndim, axis)
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    var = x.var(axis=axes)
    np.testing.assert_allclose(x_hat.mean(axis=axes), 0.0, atol=1e-9)
    np.testing.assert_allclose(x_hat.var(axis=axes), var / (var + 1e-3), atol=1e-9)


@PROPERTY_SETTINGS
@given(batches())
def test_inference_after_one_step_with_momentum_zero_equals_training_output(batch):
    x, axis, gamma, beta = batch
    layer = BatchNorm(x.shape[axis], axis=axis, momentum=0.0)
    layer.gamma, layer.beta = gamma, beta
    y_train = layer.forward(x, training=True)
    y_infer = layer.forward(x, training=False)
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-9, atol=1e-9)


@PROPERTY_SETTINGS
@given(batches())
def test_gamma_std_and_beta_mean_give_back_the_input(batch):
    x, axis, _, _ = batch
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    gamma, beta = np.sqrt(x.var(axis=axes) + 1e-3), x.mean(axis=axes)
    y, _ = batch_norm_forward(x, gamma, beta, axis=axis)
    np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# The BatchNorm layer
# ---------------------------------------------------------------------------------------------


def test_layer_starts_from_identity_parameters_and_neutral_moving_statistics():
    layer = BatchNorm(3)
    np.testing.assert_array_equal(layer.gamma, np.ones(3))
    np.testing.assert_array_equal(layer.beta, np.zeros(3))
    np.testing.assert_array_equal(layer.moving_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.moving_variance, np.ones(3))
    assert layer.dgamma is None and layer.dbeta is None


@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES, ids=IDS)
def test_moving_statistics_follow_the_keras_formula(shape, axis):
    layer = BatchNorm(shape[axis], axis=axis, momentum=0.8)
    expected_mean, expected_var = np.zeros(shape[axis]), np.ones(shape[axis])
    for seed in range(3):
        x = make_inputs(shape, axis, seed=seed)[0]
        _, mean, var = reference_forward(x, 1.0, 0.0, axis)
        expected_mean = 0.8 * expected_mean + 0.2 * mean
        expected_var = 0.8 * expected_var + 0.2 * var  # the biased variance
        layer.forward(x, training=True)
    np.testing.assert_allclose(layer.moving_mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, expected_var, rtol=1e-12)


@pytest.mark.parametrize(("shape", "axis"), [((8, 5), -1), ((4, 2, 3, 3), 1)])
def test_unbiased_option_stores_biased_variance_times_m_over_m_minus_one(shape, axis):
    x = make_inputs(shape, axis)[0]
    biased = BatchNorm(shape[axis], axis=axis, momentum=0.0)
    unbiased = BatchNorm(shape[axis], axis=axis, momentum=0.0, unbiased_moving_variance=True)
    y_biased, y_unbiased = biased.forward(x, True), unbiased.forward(x, True)
    m = x.size // shape[axis]
    np.testing.assert_allclose(unbiased.moving_variance, biased.moving_variance * m / (m - 1))
    np.testing.assert_array_equal(unbiased.moving_mean, biased.moving_mean)
    # The correction is for the moving average only: training outputs are identical.
    np.testing.assert_array_equal(y_unbiased, y_biased)


def test_unbiased_option_with_a_single_value_keeps_the_biased_zero_not_nan():
    layer = BatchNorm(4, momentum=0.5, unbiased_moving_variance=True)
    layer.forward(np.arange(4.0).reshape(1, 4), training=True)
    np.testing.assert_array_equal(layer.moving_variance, 0.5)  # 0.5 * 1 + 0.5 * 0
    np.testing.assert_array_equal(layer.moving_mean, 0.5 * np.arange(4.0))


def test_layer_backward_sets_parameter_gradients():
    x, gamma, beta, dy = make_inputs((4, 2, 3, 3), 1)
    layer = BatchNorm(2, axis=1)
    layer.gamma, layer.beta = gamma, beta
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    expected = batch_norm_backward(dy, batch_norm_forward(x, gamma, beta, axis=1)[1])
    for got, want in zip((dx, layer.dgamma, layer.dbeta), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_layer_inference_uses_moving_statistics_and_changes_nothing():
    x, gamma, beta, _ = make_inputs((5, 4, 3), 1)
    layer = BatchNorm(4, axis=1)
    layer.gamma, layer.beta = gamma, beta
    layer.moving_mean = np.array([1.0, 2.0, 3.0, 4.0])
    layer.moving_variance = np.array([0.5, 1.0, 2.0, 3.0])
    y = layer.forward(x, training=False)
    expected = batch_norm_inference(
        x, gamma, beta, layer.moving_mean, layer.moving_variance, axis=1
    )
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(layer.moving_mean, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(layer.moving_variance, [0.5, 1.0, 2.0, 3.0])
    # Inference differs from training on the same batch: the statistics really differ.
    assert not np.allclose(y, batch_norm_forward(x, gamma, beta, axis=1)[0])


def test_layer_does_not_modify_inputs_or_arrays_it_handed_out():
    x, _, _, dy = make_inputs((8, 5), -1)
    x_before, dy_before = x.copy(), dy.copy()
    layer = BatchNorm(5, momentum=0.5)
    old_mean, old_var = layer.moving_mean, layer.moving_variance
    layer.forward(x, training=True)
    layer.backward(dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(old_mean, 0.0)  # replaced, not updated in place
    np.testing.assert_array_equal(old_var, 1.0)
    assert not np.array_equal(layer.moving_mean, old_mean)


def test_backward_after_inference_forward_is_an_error():
    layer = BatchNorm(3)
    x = np.ones((2, 3))
    with pytest.raises(RuntimeError, match=r"forward\(x, training=True\)"):
        layer.backward(x)
    layer.forward(x, training=True)
    layer.forward(x, training=False)
    with pytest.raises(RuntimeError, match=r"forward\(x, training=True\)"):
        layer.backward(x)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

GOOD_X = np.ones((4, 3))
C3 = np.ones(3)


@pytest.mark.parametrize(
    "bad_x",
    [
        np.ones((4, 3), dtype=np.int64),
        np.ones((4, 3), dtype=bool),
        np.full((4, 3), "a"),
        np.full((4, 3), None, dtype=object),
        np.ones((4, 3), dtype=np.complex128),
    ],
    ids=["int", "bool", "str", "object", "complex"],
)
def test_non_float_x_is_a_type_error_naming_x_and_dtype(bad_x):
    message = re.escape(f"x must be a floating-point array, got dtype {bad_x.dtype}")
    with pytest.raises(TypeError, match=message):
        batch_norm_forward(bad_x, C3, C3)
    with pytest.raises(TypeError, match=message):
        batch_norm_inference(bad_x, C3, C3, C3, C3)
    with pytest.raises(TypeError, match=message):
        BatchNorm(3).forward(bad_x, training=True)
    with pytest.raises(TypeError, match=message):
        batch_moments(bad_x)


@pytest.mark.parametrize("name", ["gamma", "beta"])
def test_non_float_parameters_are_type_errors(name):
    kwargs = {"gamma": C3, "beta": C3, name: np.ones(3, dtype=np.int64)}
    with pytest.raises(TypeError, match=f"{name} must be a floating-point array, got dtype int64"):
        batch_norm_forward(GOOD_X, **kwargs)


@pytest.mark.parametrize("axis", [2, -3, 7])
def test_axis_out_of_range_quotes_axis_and_shape(axis):
    message = re.escape(f"axis={axis} is out of range for x of shape (4, 3)")
    with pytest.raises(ValueError, match=message):
        batch_norm_forward(GOOD_X, C3, C3, axis=axis)
    with pytest.raises(ValueError, match=message):
        batch_norm_inference(GOOD_X, C3, C3, C3, C3, axis=axis)
    with pytest.raises(ValueError, match=message):
        BatchNorm(3, axis=axis).forward(GOOD_X, training=True)


@pytest.mark.parametrize("axis", [1.0, "1", None, True])
def test_non_integer_axis_is_a_type_error(axis):
    with pytest.raises(TypeError, match=r"axis must be an int, got"):
        batch_norm_forward(GOOD_X, C3, C3, axis=axis)


def test_one_dimensional_x_is_refused():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*got shape \(3,\)"):
        batch_norm_forward(C3, C3, C3)


@pytest.mark.parametrize(
    ("name", "bad"), [("gamma", np.ones(4)), ("beta", np.ones((3, 1))), ("gamma", np.ones(()))]
)
def test_parameter_of_wrong_shape_quotes_expected_and_got(name, bad):
    kwargs = {"gamma": C3, "beta": C3, name: bad}
    message = re.escape(f"{name} must have shape (3,)") + r".*" + re.escape(f"got {bad.shape}")
    with pytest.raises(ValueError, match=message):
        batch_norm_forward(GOOD_X, **kwargs)


@pytest.mark.parametrize("name", ["gamma", "beta", "moving_mean", "moving_variance"])
def test_inference_per_feature_array_of_wrong_shape(name):
    kwargs = dict(gamma=C3, beta=C3, moving_mean=C3, moving_variance=C3)
    kwargs[name] = np.ones(2)
    with pytest.raises(ValueError, match=re.escape(f"{name} must have shape (3,)") + ".*got"):
        batch_norm_inference(GOOD_X, **kwargs)


def test_negative_moving_variance_is_refused():
    with pytest.raises(ValueError, match=r"moving_variance must be >= 0, got \[ 1. -1.  1.\]"):
        batch_norm_inference(GOOD_X, C3, C3, C3, np.array([1.0, -1.0, 1.0]))


@pytest.mark.parametrize("backward", BACKWARDS)
def test_dy_of_wrong_shape_or_dtype_is_refused(backward):
    _, cache = batch_norm_forward(GOOD_X, C3, C3)
    with pytest.raises(ValueError, match=re.escape("dy must have the shape of the forward input")):
        backward(np.ones((4, 2)), cache)
    with pytest.raises(ValueError, match=re.escape("(4, 3), got (3, 4)")):
        backward(np.ones((3, 4)), cache)
    with pytest.raises(TypeError, match="dy must be a floating-point array, got dtype int64"):
        backward(np.ones((4, 3), dtype=np.int64), cache)


class _Tagged(np.ndarray):
    """A do-nothing ndarray subclass, standing in for an instrumented array."""


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("backward", BACKWARDS)
def test_dy_subclasses_pass_through_but_matrix_is_converted(backward):
    # An ndarray subclass (such as companion.opcount's counter) reaches the arithmetic;
    # np.matrix, whose * is a matrix product, is converted to a plain array first.
    dy = np.random.default_rng(0).normal(size=(4, 3))
    _, cache = batch_norm_forward(GOOD_X, C3, C3)
    expected = backward(dy, cache)
    tagged = backward(dy.view(_Tagged), cache)
    assert isinstance(tagged[0], _Tagged)
    for got, want in zip(tagged, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(backward(np.asmatrix(dy), cache), expected, strict=True):
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("shape", "axis"), [((0, 3), -1), ((4, 0, 3), -1), ((0, 3, 2, 2), 1)])
def test_empty_batch_is_refused_with_its_shape(shape, axis):
    x = np.ones(shape)
    ones = np.ones(3)
    message = re.escape("x must not be empty") + r".*" + re.escape(f"got {shape}")
    with pytest.raises(ValueError, match=message):
        batch_norm_forward(x, ones, ones, axis=axis)
    with pytest.raises(ValueError, match=message):
        batch_norm_inference(x, ones, ones, ones, ones, axis=axis)


@pytest.mark.parametrize("epsilon", [0.0, -1e-3, float("nan"), float("inf")])
def test_non_positive_epsilon_is_refused(epsilon):
    message = re.escape(f"epsilon={epsilon!r}")
    with pytest.raises(ValueError, match=message):
        batch_norm_forward(GOOD_X, C3, C3, epsilon=epsilon)
    with pytest.raises(ValueError, match=message):
        batch_norm_inference(GOOD_X, C3, C3, C3, C3, epsilon=epsilon)
    with pytest.raises(ValueError, match=message):
        BatchNorm(3, epsilon=epsilon)


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_momentum_outside_unit_interval_is_refused(momentum):
    with pytest.raises(
        ValueError, match=re.escape(f"momentum must be in [0, 1], got momentum={momentum}")
    ):
        BatchNorm(3, momentum=momentum)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_at_the_ends_of_the_interval_is_allowed(momentum):
    layer = BatchNorm(3, momentum=momentum)
    layer.forward(np.arange(6.0).reshape(2, 3), training=True)
    np.testing.assert_allclose(layer.moving_mean, [0.0, 0.0, 0.0] if momentum else [1.5, 2.5, 3.5])


@pytest.mark.parametrize("num_features", [0, -2, 2.5])
def test_bad_num_features_is_refused(num_features):
    with pytest.raises(ValueError, match=re.escape(f"got {num_features!r}")):
        BatchNorm(num_features)


def test_num_features_must_match_the_feature_axis():
    with pytest.raises(ValueError, match=re.escape("x.shape[1] must equal num_features=3")):
        BatchNorm(3, axis=1).forward(np.ones((4, 5, 2)), training=True)
