"""Batch Normalization from TensorFlow's low-level ops, and TF1's ``UPDATE_OPS`` pitfall.

:func:`batch_norm_train` and :func:`batch_norm_infer` are BN the way TF code was written
before Keras layers existed: ``tf.nn.moments`` for the batch statistics,
``tf.nn.batch_normalization`` for the arithmetic, and ``Variable.assign`` for the
exponential moving averages. :class:`LowLevelBatchNorm` holds the four variables.
Features are on the last axis (channels last). :func:`tf1_moving_mean_after_training`
rebuilds, in ``tf.compat.v1`` graph mode, why TF1's moving averages silently stayed at
their initial values.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _reduction_axes(x: tf.Tensor) -> list[int]:
    rank = x.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"x must have rank >= 2 with features last, got shape {x.shape}")
    return list(range(rank - 1))


def batch_norm_train(
    x: tf.Tensor,
    gamma: tf.Variable,
    beta: tf.Variable,
    moving_mean: tf.Variable,
    moving_variance: tf.Variable,
    *,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
) -> tf.Tensor:
    """Training mode: normalize with the batch's statistics and update the moving ones.

    Args:
        x: Shape `(N, D)` or `(N, H, W, C)` (a tensor or an array); statistics are
            per last-axis feature.
        gamma, beta: Scale and shift, shape `(C,)`.
        moving_mean, moving_variance: Variables of shape `(C,)`, updated in place as
            `moving = momentum * moving + (1 - momentum) * batch` (biased variance).
        momentum: Weight of the old moving value, in [0, 1].
        epsilon: Added to the variance before the square root.

    Returns:
        `gamma * (x - mean) / sqrt(var + epsilon) + beta`, the shape of `x`.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
    x = tf.convert_to_tensor(x, dtype=moving_mean.dtype)
    mean, variance = tf.nn.moments(x, axes=_reduction_axes(x))
    moving_mean.assign(momentum * moving_mean + (1.0 - momentum) * mean)
    moving_variance.assign(momentum * moving_variance + (1.0 - momentum) * variance)
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon)


def batch_norm_infer(
    x: tf.Tensor,
    gamma: tf.Variable,
    beta: tf.Variable,
    moving_mean: tf.Variable,
    moving_variance: tf.Variable,
    *,
    epsilon: float = 1e-3,
) -> tf.Tensor:
    """Inference mode: normalize with the moving statistics; nothing is updated."""
    x = tf.convert_to_tensor(x, dtype=moving_mean.dtype)
    _reduction_axes(x)
    return tf.nn.batch_normalization(x, moving_mean, moving_variance, beta, gamma, epsilon)


class LowLevelBatchNorm(tf.Module):
    """The four BN variables and a call that picks the training or inference function.

    Variables are created in the order of `keras.layers.BatchNormalization.weights`
    (`gamma`, `beta`, `moving_mean`, `moving_variance`).

    Args:
        num_features: Size `C` of the last axis.
        momentum: Weight of the old moving value, in [0, 1].
        epsilon: Added to the variance before the square root.
    """

    def __init__(
        self, num_features: int, *, momentum: float = 0.99, epsilon: float = 1e-3, name=None
    ):
        super().__init__(name=name)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        if not epsilon > 0.0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.gamma = tf.Variable(tf.ones(num_features), name="gamma")
        self.beta = tf.Variable(tf.zeros(num_features), name="beta")
        self.moving_mean = tf.Variable(tf.zeros(num_features), trainable=False, name="moving_mean")
        self.moving_variance = tf.Variable(
            tf.ones(num_features), trainable=False, name="moving_variance"
        )

    @property
    def weights(self) -> list[tf.Variable]:
        """`[gamma, beta, moving_mean, moving_variance]`, the Keras layer's order."""
        return [self.gamma, self.beta, self.moving_mean, self.moving_variance]

    def get_weights(self) -> list[np.ndarray]:
        """The four variables' values as NumPy arrays, in :attr:`weights` order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, values: list[np.ndarray]) -> None:
        """Assign four arrays, e.g. `keras.layers.BatchNormalization.get_weights()`."""
        if len(values) != 4:
            raise ValueError(f"expected 4 arrays (gamma, beta, mean, variance), got {len(values)}")
        for variable, value in zip(self.weights, values, strict=True):
            variable.assign(value)

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if training:
            return batch_norm_train(x, *self.weights, momentum=self.momentum, epsilon=self.epsilon)
        return batch_norm_infer(x, *self.weights, epsilon=self.epsilon)


def tf1_moving_mean_after_training(
    batches: np.ndarray, *, with_update_dependency: bool, decay: float = 0.9
) -> np.ndarray:
    """Train a one-feature TF1 graph and return its moving mean, the way TF1 code did.

    The moving-average update is an op put in the ``UPDATE_OPS`` collection, as
    ``tf.contrib.layers.batch_norm`` did. A TF1 session runs only the ops the fetched op
    depends on, so unless the train op is built under
    ``tf.control_dependencies(UPDATE_OPS)``, the update never runs.

    Args:
        batches: Shape `(steps, N, C)`: the mini-batches fed one per training step.
        with_update_dependency: Whether the train op depends on the update ops.
        decay: TF1's decay (the Keras momentum).

    Returns:
        The moving mean after the last step, shape `(C,)`.
    """
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=(None, batches.shape[-1]))
        w = v1.get_variable("w", initializer=tf.ones(batches.shape[-1]))
        moving_mean = v1.get_variable(
            "moving_mean", initializer=tf.zeros(batches.shape[-1]), trainable=False
        )
        mean, variance = tf.nn.moments(x, axes=[0])
        update = v1.assign(moving_mean, decay * moving_mean + (1 - decay) * mean)
        v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, update)
        loss = tf.reduce_mean(tf.square(w * (x - mean) / tf.sqrt(variance + 1e-3) - 1.0))
        dependencies = v1.get_collection(v1.GraphKeys.UPDATE_OPS) if with_update_dependency else []
        with tf.control_dependencies(dependencies):
            train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for batch in batches:
                session.run(train_op, feed_dict={x: batch})
            return session.run(moving_mean)
