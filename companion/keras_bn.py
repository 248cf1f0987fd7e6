"""Batch Normalization as a Keras layer, written from primitive ops.

``ScratchBatchNormalization`` is a drop-in replacement for ``keras.layers.BatchNormalization``
(without Batch Renorm and synchronized statistics): same arguments, same weights in the same
order, same training/inference behaviour, same mixed-precision handling. It is built only from
means, squares and a reciprocal square root so that every step of the algorithm is visible.
The arithmetic lives in two pure functions, ``batch_statistics`` and ``batch_normalize``; the
layer only holds the weights and updates the moving averages.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import constraints, initializers, ops, regularizers


def batch_statistics(x, axes: Sequence[int], mask=None):
    """Per-feature mean and biased variance of a batch.

    The variance is the mean of squared deviations from the mean (two passes), not
    ``E[x**2] - E[x]**2``: the textbook one-pass formula subtracts two large, nearly equal
    numbers and loses every significant digit when the data sit far from zero compared
    with their spread (float32 values ``1000 ± 0.1``).

    Args:
        x: Input tensor, e.g. `(N, D)`, `(N, H, W, C)` or `(N, C, H, W)`.
        axes: The axes to reduce over (every axis except the feature axis).
        mask: Optional boolean tensor with one dimension less than `x` (its last axis
            is missing); only positions where it is `True` enter the statistics.

    Returns:
        `(mean, variance)`, each of shape `(C,)` where `C` is the size of the axis that
        is not reduced.
    """
    if mask is None:
        mean = ops.mean(x, axis=axes, keepdims=True)
        # The gradient that reaches `mean` through the variance is exactly zero
        # (deviations from the mean sum to zero), so stop_gradient skips computing it.
        variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=axes)
        return ops.squeeze(mean, axis=axes), variance

    weights = ops.broadcast_to(ops.expand_dims(ops.cast(mask, "bool"), axis=-1), ops.shape(x))
    # The small constant matches Keras and keeps an all-masked feature finite.
    count = ops.sum(ops.cast(weights, x.dtype), axis=axes, keepdims=True) + keras.config.epsilon()
    mean = ops.sum(ops.where(weights, x, 0), axis=axes, keepdims=True) / count
    squared = ops.square(ops.where(weights, x - mean, 0))
    variance = ops.sum(squared, axis=axes, keepdims=True) / count
    return ops.squeeze(mean, axis=axes), ops.squeeze(variance, axis=axes)


def batch_normalize(x, mean, variance, gamma, beta, epsilon: float, shape=None):
    """Normalize `x` with the given statistics, then scale by `gamma` and shift by `beta`.

    Computes ``gamma * (x - mean) / sqrt(variance + epsilon) + beta`` as a single
    multiply-add over `x`: ``x * inv + (beta - mean * inv)`` with
    ``inv = gamma * rsqrt(variance + epsilon)``, where only the per-feature vectors are
    combined before touching the large tensor.

    Args:
        x: Input tensor.
        mean: Per-feature mean, shape `(C,)`.
        variance: Per-feature variance, shape `(C,)`.
        gamma: Per-feature scale, shape `(C,)`, or `None` for no scaling.
        beta: Per-feature offset, shape `(C,)`, or `None` for no offset.
        epsilon: Small positive float added to the variance.
        shape: Shape that broadcasts a `(C,)` vector against `x`, e.g. `(1, C, 1, 1)` for
            `(N, C, H, W)`; `None` when the features are on the last axis.

    Returns:
        A tensor with the shape and dtype of `x`.
    """
    inv = ops.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv if beta is None else beta - mean * inv
    if shape is not None:
        inv = ops.reshape(inv, shape)
        shift = ops.reshape(shift, shape)
    return x * inv + shift


@keras.saving.register_keras_serializable(package="companion")
class ScratchBatchNormalization(keras.layers.Layer):
    """Batch Normalization written from primitive ops; interchangeable with Keras's layer.

    In training mode (`training=True`, e.g. inside `fit()`) the layer normalizes each
    feature with the mean and the biased variance of the current batch, returns
    `gamma * (x - mean) / sqrt(var + epsilon) + beta`, and updates the moving statistics:

    - `moving_mean = moving_mean * momentum + mean * (1 - momentum)`
    - `moving_variance = moving_variance * momentum + var * (1 - momentum)`

    In inference mode (`training=False`, the default, e.g. in `predict()`) it uses the
    moving statistics instead. As in Keras 3, a layer with `trainable=False` always runs
    in inference mode and never updates its moving statistics.

    The weights are created with the names and in the order of
    `keras.layers.BatchNormalization` (`gamma`, `beta`, `moving_mean`, `moving_variance`;
    `gamma` is absent when `scale=False`, `beta` when `center=False`), so
    `layer.set_weights(builtin.get_weights())` works in both directions.

    Args:
        axis: Integer, the axis that keeps its own statistics (the features axis). For
            instance, after a `Conv2D` layer with `data_format="channels_first"`, use
            `axis=1`.
        momentum: Momentum for the moving averages, in `[0, 1]`.
        epsilon: Small positive float added to the variance to avoid dividing by zero.
        center: If `True`, add the learned offset `beta`.
        scale: If `True`, multiply by the learned scale `gamma`.
        beta_initializer: Initializer for `beta`.
        gamma_initializer: Initializer for `gamma`.
        moving_mean_initializer: Initializer for the moving mean.
        moving_variance_initializer: Initializer for the moving variance.
        beta_regularizer: Optional regularizer for `beta`.
        gamma_regularizer: Optional regularizer for `gamma`.
        beta_constraint: Optional constraint for `beta`.
        gamma_constraint: Optional constraint for `gamma`.
        **kwargs: Base layer keyword arguments (e.g. `name` and `dtype`).

    Call arguments:
        inputs: Input tensor of any rank, e.g. `(N, D)`, `(N, H, W, C)` or `(N, C, H, W)`.
        training: Python boolean. `True` normalizes with the statistics of the batch and
            updates the moving statistics; `False` normalizes with the moving statistics.
        mask: Optional boolean tensor with one dimension less than `inputs`; masked
            positions do not enter the batch statistics.

    Reference:

    - [Ioffe and Szegedy, 2015](https://arxiv.org/abs/1502.03167).
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"Argument `momentum` must be in [0, 1]. Received: momentum={momentum}"
            )
        if not epsilon > 0.0:
            raise ValueError(f"Argument `epsilon` must be positive. Received: epsilon={epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True

        self.gamma = None
        self.beta = None
        self.moving_mean = None
        self.moving_variance = None
        self._reduction_axes = None
        self._broadcast_shape = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}. "
                f"Received: axis={self.axis}"
            )
        axis = self.axis % rank
        if input_shape[axis] is None:
            raise ValueError(
                f"The features axis must have a known size. Received: axis={self.axis}, "
                f"input shape {tuple(input_shape)}"
            )
        shape = (input_shape[axis],)
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape,
                name="gamma",
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                trainable=True,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(
                shape=shape,
                name="beta",
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                trainable=True,
                autocast=False,
            )
        self.moving_mean = self.add_weight(
            shape=shape,
            name="moving_mean",
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            shape=shape,
            name="moving_variance",
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
        )
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self.axis: shape[0]})
        self._reduction_axes = [i for i in range(rank) if i != axis]
        # (C,) vectors broadcast against the last axis as they are; any other axis
        # needs them reshaped to e.g. (1, C, 1, 1), a shape fixed once here.
        if axis != rank - 1:
            self._broadcast_shape = tuple(shape[0] if i == axis else 1 for i in range(rank))

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=None, mask=None):
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise ValueError(
                "The mask must have one dimension less than the inputs. Received: "
                f"mask.shape={mask.shape}, inputs.shape={inputs.shape}"
            )
        # float16/bfloat16 statistics overflow and lose precision: compute in float32
        # (float64 inputs stay float64), then return the layer's compute dtype.
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, dtype)
        gamma = ops.cast(self.gamma, dtype) if self.scale else None
        beta = ops.cast(self.beta, dtype) if self.center else None

        if training and self.trainable:
            mean, variance = batch_statistics(inputs, self._reduction_axes, mask)
            self._update_moving_statistics(mean, variance)
        else:
            mean = ops.cast(self.moving_mean, dtype)
            variance = ops.cast(self.moving_variance, dtype)

        outputs = batch_normalize(
            inputs, mean, variance, gamma, beta, self.epsilon, self._broadcast_shape
        )
        return ops.cast(outputs, self.compute_dtype)

    def _update_moving_statistics(self, mean, variance):
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = ops.cast(batch, moving.dtype)
            moving.assign(moving * self.momentum + batch * (1.0 - self.momentum))

    def get_config(self):
        base_config = super().get_config()
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
        return {**base_config, **config}
