"""Tests of companion.norms against Keras's layers, numpy_bn, GradientTape and numerics."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion.gradcheck import numerical_gradient_array, relative_error
from companion.norms import (
    NormCache,
    batch_norm,
    ghost_batch_norm,
    ghost_batch_norm_backward,
    group_norm,
    group_norm_backward,
    instance_norm,
    instance_norm_backward,
    layer_norm,
    layer_norm_backward,
    normalize_over,
    normalize_over_backward,
    reduction,
    statistics_index,
)
from companion.numpy_bn import batch_norm_backward, batch_norm_forward

EPSILON = 1e-3


def make_inputs(shape, axis=-1, seed=0, dtype=np.float64):
    """x offset and scaled so that the statistics matter, per-channel gamma and beta, dy."""
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    x = (rng.standard_normal(shape) * 2.0 + 3.0).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, channels)
    beta = rng.standard_normal(channels)
    dy = rng.standard_normal(shape)
    return x, gamma, beta, dy


def reference(x, gamma, beta, axis, stat_axes, groups):
    """Float64 normalization written out directly: channels split into groups, then averaged."""
    moved = np.moveaxis(x.astype(np.float64), axis, -1)  # (..., C)
    channels = moved.shape[-1]
    grouped = moved.reshape(*moved.shape[:-1], groups, channels // groups)
    axes = tuple(a if a < axis else a - 1 for a in stat_axes)  # after moveaxis
    axes = tuple(sorted(a % moved.ndim for a in axes)) + (grouped.ndim - 1,)
    mean = grouped.mean(axis=axes, keepdims=True)
    var = grouped.var(axis=axes, keepdims=True)
    x_hat = ((grouped - mean) / np.sqrt(var + EPSILON)).reshape(moved.shape)
    return np.moveaxis(gamma * x_hat + beta, -1, axis)


# (shape, axis) pairs with at least one position axis: (N, H, W, C), (N, C, H, W), (N, T, D).
IMAGE_SHAPES = [((4, 3, 5, 6), -1), ((3, 6, 2, 4), 1), ((5, 7, 4), -1), ((2, 4, 3, 3), -3)]
IMAGE_IDS = [f"{s}-axis{a}" for s, a in IMAGE_SHAPES]


# ---------------------------------------------------------------------------------------------
# Forward against a direct float64 reference and against Keras
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "axis"), IMAGE_SHAPES, ids=IMAGE_IDS)
@pytest.mark.parametrize("kind", ["layer", "instance", "group"])
def test_forward_matches_direct_reference(kind, shape, axis):
    x, gamma, beta, _ = make_inputs(shape, axis)
    ndim, channels = len(shape), shape[axis]
    positions = tuple(a for a in range(1, ndim) if a != axis % ndim)
    if kind == "layer":
        y, cache = layer_norm(x, gamma, beta, axis=axis)
        groups = 1
    elif kind == "instance":
        y, cache = instance_norm(x, gamma, beta, axis=axis)
        groups = channels
    else:
        groups = 2
        y, cache = group_norm(x, gamma, beta, groups=groups, axis=axis)
    expected = reference(x, gamma, beta, axis % ndim, positions, groups)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert isinstance(cache, NormCache)
    assert cache.mean.shape == (shape[0], groups) and cache.var.shape == (shape[0], groups)
    assert cache.count == x.size // (shape[0] * groups)


@pytest.mark.parametrize(("shape", "axis"), [((8, 5), -1), *IMAGE_SHAPES])
def test_batch_norm_is_numpy_bn_exactly(shape, axis):
    x, gamma, beta, dy = make_inputs(shape, axis)
    y, cache = batch_norm(x, gamma, beta, axis=axis)
    y_bn, cache_bn = batch_norm_forward(x, gamma, beta, axis=axis)
    np.testing.assert_allclose(y, y_bn, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(cache.mean, cache_bn.mean, rtol=1e-13)
    np.testing.assert_allclose(cache.var, cache_bn.var, rtol=1e-13)
    for ours, theirs in zip(
        normalize_over_backward(dy, cache), batch_norm_backward(dy, cache_bn), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 10), (4, 5, 7), (3, 4, 4, 6)])
def test_layer_norm_matches_keras(shape):
    """Keras normalizes over the axes in `axis` and gives each of their entries a gamma."""
    x, gamma, beta, _ = make_inputs(shape)
    x = x.astype(np.float32)
    y, _ = layer_norm(x, gamma, beta)
    keras_axes = list(range(1, len(shape)))
    layer = keras.layers.LayerNormalization(axis=keras_axes, epsilon=EPSILON)
    layer.build(shape)
    per_position = shape[1:]
    layer.set_weights([np.broadcast_to(gamma, per_position), np.broadcast_to(beta, per_position)])
    np.testing.assert_allclose(y, layer(x).numpy(), rtol=1e-4, atol=1e-4)


def test_keras_layer_norm_default_axis_differs_on_images():
    """Keras's default axis=-1 normalizes each position's channels: not layer_norm of images."""
    x, gamma, beta, _ = make_inputs((2, 3, 3, 4))
    y, _ = layer_norm(x.astype(np.float32), gamma, beta)
    layer = keras.layers.LayerNormalization(epsilon=EPSILON)
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    assert np.max(np.abs(layer(x.astype(np.float32)).numpy() - y)) > 0.1


@pytest.mark.parametrize(("shape", "axis"), IMAGE_SHAPES, ids=IMAGE_IDS)
@pytest.mark.parametrize("groups", [1, 2, None])
def test_group_and_instance_norm_match_keras(shape, axis, groups):
    x, gamma, beta, _ = make_inputs(shape, axis)
    x = x.astype(np.float32)
    if groups is None:  # instance norm: Keras's groups=-1
        y, _ = instance_norm(x, gamma, beta, axis=axis)
        layer = keras.layers.GroupNormalization(groups=-1, axis=axis, epsilon=EPSILON)
    else:
        y, _ = group_norm(x, gamma, beta, groups=groups, axis=axis)
        layer = keras.layers.GroupNormalization(groups=groups, axis=axis, epsilon=EPSILON)
    layer.build(shape)
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(y, layer(x).numpy(), rtol=1e-4, atol=1e-4)


def test_defaults_match_keras_epsilon():
    """Ours default to epsilon=1e-3 like Keras's three layers (PyTorch uses 1e-5)."""
    import inspect

    ours = {f: inspect.signature(f).parameters["epsilon"].default for f in (layer_norm, group_norm)}
    assert set(ours.values()) == {1e-3}
    for layer in (
        keras.layers.LayerNormalization(),
        keras.layers.GroupNormalization(),
        keras.layers.BatchNormalization(),
    ):
        assert layer.epsilon == 1e-3


def test_keras_group_norm_default_groups_is_32():
    """Keras's default is 32 groups (Wu and He's choice): it rejects 16 channels."""
    with pytest.raises(ValueError, match="32"):
        keras.layers.GroupNormalization().build((2, 4, 4, 16))


def test_group_norm_extremes_are_layer_and_instance_norm():
    x, gamma, beta, _ = make_inputs((3, 4, 4, 6))
    np.testing.assert_allclose(
        group_norm(x, gamma, beta, groups=1)[0], layer_norm(x, gamma, beta)[0], rtol=1e-13
    )
    np.testing.assert_allclose(
        group_norm(x, gamma, beta, groups=6)[0], instance_norm(x, gamma, beta)[0], rtol=1e-13
    )


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_output_keeps_the_input_dtype(dtype):
    x, gamma, beta, dy = make_inputs((4, 3, 3, 4), dtype=dtype)
    y, cache = group_norm(x, gamma, beta, groups=2)
    assert y.dtype == dtype
    dx, dgamma, _ = group_norm_backward(dy.astype(dtype), cache)
    assert dx.dtype == dtype and dgamma.shape == (4,)
    y64, _ = group_norm(x.astype(np.float64), gamma, beta, groups=2)
    tolerance = {np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-14}[dtype]
    np.testing.assert_allclose(y.astype(np.float64), y64, rtol=tolerance, atol=tolerance)


def test_per_example_norms_do_not_depend_on_the_rest_of_the_batch():
    x, gamma, beta, _ = make_inputs((6, 4, 4, 4))
    for norm in (
        lambda z: layer_norm(z, gamma, beta)[0],
        lambda z: instance_norm(z, gamma, beta)[0],
        lambda z: group_norm(z, gamma, beta, groups=2)[0],
    ):
        np.testing.assert_allclose(norm(x)[:1], norm(x[:1]), rtol=1e-13)
    # Batch norm does depend on it.
    assert (
        np.max(np.abs(batch_norm(x, gamma, beta)[0][:2] - batch_norm(x[:2], gamma, beta)[0])) > 0.01
    )


def test_arguments_are_not_modified():
    x, gamma, beta, dy = make_inputs((3, 4, 4, 4))
    copies = [a.copy() for a in (x, gamma, beta, dy)]
    _, cache = group_norm(x, gamma, beta, groups=2)
    group_norm_backward(dy, cache)
    for original, copy in zip((x, gamma, beta, dy), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


# ---------------------------------------------------------------------------------------------
# Backward against numerical gradients and GradientTape
# ---------------------------------------------------------------------------------------------

FORWARDS = {
    "layer": (lambda x, g, b, axis: layer_norm(x, g, b, axis=axis), layer_norm_backward),
    "group": (lambda x, g, b, axis: group_norm(x, g, b, groups=2, axis=axis), group_norm_backward),
    "instance": (lambda x, g, b, axis: instance_norm(x, g, b, axis=axis), instance_norm_backward),
    "batch": (lambda x, g, b, axis: batch_norm(x, g, b, axis=axis), normalize_over_backward),
    "ghost": (
        lambda x, g, b, axis: ghost_batch_norm(x, g, b, virtual_batch_size=2, axis=axis),
        ghost_batch_norm_backward,
    ),
}


@pytest.mark.parametrize("kind", list(FORWARDS))
@pytest.mark.parametrize(("shape", "axis"), [((4, 3, 2, 4), -1), ((4, 4, 3), 1), ((4, 5, 4), -1)])
def test_backward_matches_numerical_gradients(kind, shape, axis):
    forward, backward = FORWARDS[kind]
    x, gamma, beta, dy = make_inputs(shape, axis, seed=3)
    _, cache = forward(x, gamma, beta, axis)
    dx, dgamma, dbeta = backward(dy, cache)
    assert dx.shape == x.shape and dgamma.shape == dbeta.shape == gamma.shape
    num_dx = numerical_gradient_array(lambda z: forward(z, gamma, beta, axis)[0], x, dy)
    num_dgamma = numerical_gradient_array(lambda g: forward(x, g, beta, axis)[0], gamma, dy)
    num_dbeta = numerical_gradient_array(lambda b: forward(x, gamma, b, axis)[0], beta, dy)
    assert relative_error(dx, num_dx) < 1e-7
    assert relative_error(dgamma, num_dgamma) < 1e-7
    assert relative_error(dbeta, num_dbeta) < 1e-7


def test_layer_norm_backward_is_not_batch_norms():
    """A check that could fail: LN's dx differs from BN's on the same data."""
    x, gamma, beta, dy = make_inputs((5, 4))
    dx_ln = layer_norm_backward(dy, layer_norm(x, gamma, beta)[1])[0]
    dx_bn = normalize_over_backward(dy, batch_norm(x, gamma, beta)[1])[0]
    assert np.max(np.abs(dx_ln - dx_bn)) > 0.1


def test_group_norm_backward_matches_gradient_tape_through_keras():
    x, gamma, beta, dy = make_inputs((3, 4, 4, 6), seed=5)
    layer = keras.layers.GroupNormalization(groups=3, epsilon=EPSILON, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    x_var = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x_var) * dy)
    tape_dx, tape_dgamma, tape_dbeta = tape.gradient(loss, [x_var, layer.gamma, layer.beta])
    _, cache = group_norm(x, gamma, beta, groups=3)
    dx, dgamma, dbeta = group_norm_backward(dy, cache)
    assert relative_error(dx, tape_dx.numpy()) < 1e-9
    assert relative_error(dgamma, np.asarray(tape_dgamma)) < 1e-9
    assert relative_error(dbeta, np.asarray(tape_dbeta)) < 1e-9


# ---------------------------------------------------------------------------------------------
# Ghost batch norm and the shared layout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("virtual", [1, 2, 4, 8])
def test_ghost_batch_norm_is_batch_norm_of_each_virtual_batch(virtual):
    x, gamma, beta, _ = make_inputs((8, 3, 3, 2))
    y, cache = ghost_batch_norm(x, gamma, beta, virtual_batch_size=virtual)
    pieces = [
        batch_norm_forward(chunk, gamma, beta)[0] for chunk in np.split(x, 8 // virtual, axis=0)
    ]
    np.testing.assert_allclose(y, np.concatenate(pieces), rtol=1e-12, atol=1e-12)
    assert cache.mean.shape == (8 // virtual, 2)


def test_ghost_with_the_whole_batch_is_batch_norm():
    x, gamma, beta, _ = make_inputs((6, 5))
    np.testing.assert_allclose(
        ghost_batch_norm(x, gamma, beta, virtual_batch_size=6)[0],
        batch_norm(x, gamma, beta)[0],
        rtol=1e-13,
    )


def test_statistics_index_marks_which_entries_share_a_statistic():
    shape = (2, 3, 4)  # (N, positions, C)
    per_example = (1,)
    bn = statistics_index(shape, reduce_axes=(0, 1))
    ln = statistics_index(shape, reduce_axes=per_example, groups=1)
    inn = statistics_index(shape, reduce_axes=per_example)
    gn = statistics_index(shape, reduce_axes=per_example, groups=2)
    assert [len(np.unique(a)) for a in (bn, ln, inn, gn)] == [4, 2, 8, 4]
    np.testing.assert_array_equal(bn[0, 0], bn[1, 2])  # same channel, any example or position
    assert ln[0].max() == ln[0].min() and ln[0, 0, 0] != ln[1, 0, 0]
    assert gn[0, 0, 0] == gn[0, 2, 1] and gn[0, 0, 0] != gn[0, 0, 2]
    # The index agrees with the statistics normalize_over computes.
    x, gamma, beta, _ = make_inputs(shape)
    _, cache = normalize_over(x, gamma, beta, reduce_axes=per_example, groups=2)
    for label in range(4):
        np.testing.assert_allclose(cache.mean.reshape(-1)[label], x[gn == label].mean())


def test_reduction_layout():
    layout = reduction((4, 5, 5, 8), reduce_axes=(1, 2), groups=2)
    assert layout.kept_shape == (4, 2) and layout.count == 5 * 5 * 4


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_groups_that_do_not_divide_the_channels():
    x, gamma, beta, _ = make_inputs((2, 3, 3, 6))
    with pytest.raises(ValueError, match=re.escape("C=6, got groups=4")):
        group_norm(x, gamma, beta, groups=4)
    with pytest.raises(ValueError, match="groups=0"):
        group_norm(x, gamma, beta, groups=0)
    with pytest.raises(TypeError, match="groups must be an int, got float"):
        group_norm(x, gamma, beta, groups=2.0)


def test_batch_of_one_for_batch_norm_in_training():
    x, gamma, beta, _ = make_inputs((1, 64))
    with pytest.raises(ValueError, match=re.escape("x of shape (1, 64) (a batch of one)")):
        batch_norm(x, gamma, beta)
    # Layer norm has no problem with it, and BN of one image averages over its positions.
    assert np.isfinite(layer_norm(x, gamma, beta)[0]).all()
    image, g, b, _ = make_inputs((1, 4, 4, 3))
    np.testing.assert_allclose(batch_norm(image, g, b)[0], instance_norm(image, g, b)[0])


def test_single_value_statistics_are_refused():
    x, gamma, beta, _ = make_inputs((4, 6))
    with pytest.raises(ValueError, match="instance_norm needs an axis besides"):
        instance_norm(x, gamma, beta)
    with pytest.raises(ValueError, match="single value"):
        group_norm(x, gamma, beta, groups=6)


@pytest.mark.parametrize(
    ("axis", "error", "message"),
    [
        (0, ValueError, "axis=0 is the batch axis"),
        (4, ValueError, "axis=4 is out of range"),
        (-5, ValueError, "axis=-5 is out of range"),
        (1.0, TypeError, "axis must be an int, got float"),
    ],
)
def test_bad_axis(axis, error, message):
    x, _, _, _ = make_inputs((2, 3, 3, 4))
    gamma, beta = np.ones(4), np.zeros(4)
    for norm in (layer_norm, instance_norm):
        with pytest.raises(error, match=re.escape(message)):
            norm(x, gamma, beta, axis=axis)


def test_gamma_of_the_wrong_shape():
    x, _, beta, _ = make_inputs((2, 3, 3, 4))
    with pytest.raises(ValueError, match=re.escape("gamma must have shape (4,)")):
        layer_norm(x, np.ones(3), beta)
    with pytest.raises(ValueError, match=re.escape("beta must have shape (4,)")):
        group_norm(x, np.ones(4), np.zeros((1, 4)), groups=2)


def test_bad_reduce_axes_and_arrays():
    x, gamma, beta, dy = make_inputs((2, 3, 4))
    with pytest.raises(ValueError, match="contains the feature axis 2"):
        normalize_over(x, gamma, beta, reduce_axes=(1, 2))
    with pytest.raises(ValueError, match="names an axis twice"):
        normalize_over(x, gamma, beta, reduce_axes=(1, -2))
    with pytest.raises(TypeError, match="x must be a floating-point array, got dtype int64"):
        layer_norm(np.ones((2, 3), dtype=np.int64), np.ones(3), np.zeros(3))
    _, cache = layer_norm(x, gamma, beta)
    with pytest.raises(ValueError, match=re.escape("got (2, 4)")):
        layer_norm_backward(dy[:, 0], cache)
    with pytest.raises(ValueError, match="epsilon"):
        layer_norm(x, gamma, beta, epsilon=0.0)


def test_ghost_backward_checks_the_shape_of_dy():
    x, gamma, beta, dy = make_inputs((8, 6))
    _, cache = ghost_batch_norm(x, gamma, beta, virtual_batch_size=4)
    with pytest.raises(ValueError, match=re.escape("(8, 6), got (6, 8)")):
        ghost_batch_norm_backward(dy.reshape(6, 8), cache)


def test_ghost_batch_size_must_divide_the_batch():
    x, gamma, beta, _ = make_inputs((6, 4))
    with pytest.raises(ValueError, match=re.escape("batch size 6, got virtual_batch_size=4")):
        ghost_batch_norm(x, gamma, beta, virtual_batch_size=4)
    with pytest.raises(ValueError, match="single value"):  # one example per ghost, no positions
        ghost_batch_norm(x, gamma, beta, virtual_batch_size=1)
