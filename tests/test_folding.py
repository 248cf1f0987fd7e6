"""Tests of companion.folding against the unfolded layer pair run in inference mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from companion.folding import bn_scale_and_shift, fold_batch_norm, fold_sequential
from companion.keras_bn import ScratchBatchNormalization

L = keras.layers


def _trained_bn(bn: keras.layers.Layer, z: np.ndarray, rng: np.random.Generator) -> None:
    """Build `bn` on `z` (unless built) and give it non-trivial statistics, gamma and beta."""
    if not bn.built:
        bn(z)
    channels = z.shape[-1]
    if bn.scale:
        bn.gamma.assign(rng.uniform(-2.0, 2.0, channels))
    if bn.center:
        bn.beta.assign(rng.normal(0.0, 1.0, channels))
    bn.moving_mean.assign(rng.normal(0.0, 2.0, channels))
    bn.moving_variance.assign(rng.uniform(0.05, 4.0, channels))


def _check_fold(layer, bn, x, rng, atol=1e-4) -> keras.layers.Layer:
    x = x.astype(np.float32)
    _trained_bn(bn, layer(x), rng)
    folded = fold_batch_norm(layer, bn)
    expected = keras.ops.convert_to_numpy(bn(layer(x), training=False))
    got = keras.ops.convert_to_numpy(folded(x))
    assert type(folded) is type(layer)
    assert folded.use_bias
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-5)
    return folded


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("input_shape", [(16, 5), (4, 3, 5)], ids=["2d", "3d"])
def test_dense_folds_exactly(use_bias: bool, input_shape: tuple) -> None:
    rng = np.random.default_rng(0)
    layer = L.Dense(7, use_bias=use_bias)
    _check_fold(layer, L.BatchNormalization(), rng.normal(size=input_shape), rng)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2])
def test_conv2d_folds_exactly(use_bias: bool, padding: str, strides: int) -> None:
    rng = np.random.default_rng(1)
    layer = L.Conv2D(6, 3, strides=strides, padding=padding, use_bias=use_bias)
    _check_fold(layer, L.BatchNormalization(epsilon=1e-5), rng.normal(size=(3, 9, 9, 4)), rng)


def test_grouped_and_1d_convolutions_fold() -> None:
    rng = np.random.default_rng(2)
    _check_fold(
        L.Conv2D(6, 3, groups=2), L.BatchNormalization(), rng.normal(size=(2, 7, 7, 4)), rng
    )
    _check_fold(L.Conv1D(5, 3), L.BatchNormalization(), rng.normal(size=(2, 10, 3)), rng)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("bn_class", [L.BatchNormalization, ScratchBatchNormalization])
def test_center_scale_and_scratch_layer(center: bool, scale: bool, bn_class) -> None:
    rng = np.random.default_rng(3)
    bn = bn_class(center=center, scale=scale, epsilon=1e-2)
    _check_fold(L.Conv2D(4, 2, use_bias=False), bn, rng.normal(size=(2, 5, 5, 3)), rng)


def test_scale_and_shift_formula() -> None:
    rng = np.random.default_rng(4)
    bn = L.BatchNormalization(epsilon=0.5)
    _trained_bn(bn, np.zeros((1, 3), np.float32), rng)
    scale, shift = bn_scale_and_shift(bn)
    gamma, beta, mean, var = (w.astype(np.float64) for w in bn.get_weights())
    np.testing.assert_allclose(scale, gamma / np.sqrt(var + 0.5))
    np.testing.assert_allclose(shift, beta - gamma * mean / np.sqrt(var + 0.5))


def test_originals_are_untouched_and_names_differ() -> None:
    rng = np.random.default_rng(5)
    layer, bn = L.Dense(3), L.BatchNormalization()
    x = rng.normal(size=(4, 2)).astype(np.float32)
    _trained_bn(bn, layer(x), rng)
    before = [w.copy() for w in layer.get_weights() + bn.get_weights()]
    folded = fold_batch_norm(layer, bn)
    for old, new in zip(before, layer.get_weights() + bn.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert folded.name == f"{layer.name}_folded"


def test_unsupported_layer_type_is_named() -> None:
    rng = np.random.default_rng(6)
    layer = L.DepthwiseConv2D(3)
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    bn = L.BatchNormalization()
    bn(layer(x))
    with pytest.raises(TypeError, match="DepthwiseConv2D"):
        fold_batch_norm(layer, bn)
    dense = L.Dense(2)
    norm = L.LayerNormalization()
    norm(dense(np.ones((1, 3), np.float32)))
    with pytest.raises(TypeError, match="LayerNormalization"):
        fold_batch_norm(dense, norm)


def test_nonlinear_activation_is_rejected() -> None:
    layer, bn = L.Dense(3, activation="relu"), L.BatchNormalization()
    bn(layer(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match="activation 'relu'"):
        fold_batch_norm(layer, bn)


def test_unbuilt_layers_are_rejected() -> None:
    with pytest.raises(ValueError, match="not built"):
        fold_batch_norm(L.Dense(3), L.BatchNormalization())


def test_bn_on_another_axis_is_rejected() -> None:
    layer, bn = L.Conv2D(3, 1), L.BatchNormalization(axis=1)
    bn(layer(np.ones((2, 3, 3, 3), np.float32)))
    with pytest.raises(ValueError, match="axis 1"):
        fold_batch_norm(layer, bn)
    dense, last = L.Dense(4), L.BatchNormalization(axis=2)
    last(dense(np.ones((2, 5, 3), np.float32)))
    assert fold_batch_norm(dense, last).units == 4  # axis 2 is the last axis of (N, T, D)


def test_feature_count_mismatch_is_rejected() -> None:
    layer, bn = L.Dense(3), L.BatchNormalization()
    layer(np.ones((1, 2), np.float32))
    bn(np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match="5 features"):
        fold_batch_norm(layer, bn)


def test_channels_first_is_rejected() -> None:
    layer = L.Conv2D(3, 1, data_format="channels_first")
    bn = L.BatchNormalization(axis=1)
    layer.build((None, 2, 4, 4))
    bn.build((None, 3, 4, 4))
    with pytest.raises(ValueError, match="channels_last"):
        fold_batch_norm(layer, bn)


def test_fold_sequential_folds_only_pre_activation_bn() -> None:
    rng = np.random.default_rng(7)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(4, 3, use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.Conv2D(4, 3, activation="relu"),
            L.BatchNormalization(),  # after the activation: cannot fold backwards
            L.Flatten(),
            L.Dense(3),
            L.BatchNormalization(),
        ]
    )
    for bn in (layer for layer in model.layers if isinstance(layer, L.BatchNormalization)):
        _trained_bn(bn, np.zeros((1, bn.moving_mean.shape[0]), np.float32), rng)
    folded = fold_sequential(model)
    kinds = [type(layer).__name__ for layer in folded.layers]
    assert kinds == ["Conv2D", "ReLU", "Conv2D", "BatchNormalization", "Flatten", "Dense"]
    x = rng.normal(size=(5, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(folded(x), model(x, training=False), atol=1e-4, rtol=1e-5)


def test_fold_sequential_needs_a_built_sequential() -> None:
    with pytest.raises(ValueError, match="Sequential"):
        fold_sequential(keras.Sequential([L.Dense(2)]))
