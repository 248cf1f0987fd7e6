"""BN from tf.nn ops against the Keras layer; the TF1 UPDATE_OPS demonstration."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion.lowlevel import (
    LowLevelBatchNorm,
    batch_norm_infer,
    batch_norm_train,
    tf1_moving_mean_after_training,
)


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 3, 6)])
@pytest.mark.parametrize("momentum", [0.99, 0.5])
def test_matches_the_keras_layer(shape: tuple[int, ...], momentum: float) -> None:
    rng = np.random.default_rng(0)
    low = LowLevelBatchNorm(shape[-1], momentum=momentum)
    layer = keras.layers.BatchNormalization(momentum=momentum)
    layer.build(shape)
    start = [rng.normal(size=shape[-1]).astype("float32") for _ in range(3)]
    start.append(rng.uniform(0.5, 2.0, size=shape[-1]).astype("float32"))
    layer.set_weights(start)
    low.set_weights(start)
    for _ in range(4):
        x = rng.normal(2.0, 3.0, size=shape).astype("float32")
        np.testing.assert_allclose(
            low(tf.constant(x), training=True), layer(x, training=True), rtol=1e-5, atol=1e-5
        )
    for ours, theirs in zip(low.get_weights(), layer.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        low(tf.constant(x), training=False), layer(x, training=False), rtol=1e-5, atol=1e-5
    )


def test_inference_changes_nothing_and_training_updates_with_the_keras_formula() -> None:
    low = LowLevelBatchNorm(2, momentum=0.9)
    x = tf.constant([[1.0, 10.0], [3.0, 30.0]])
    low(x, training=False)
    np.testing.assert_array_equal(low.moving_mean.numpy(), [0.0, 0.0])
    low(x, training=True)
    np.testing.assert_allclose(low.moving_mean.numpy(), [0.2, 2.0], rtol=1e-6)
    np.testing.assert_allclose(low.moving_variance.numpy(), [0.9 + 0.1, 0.9 + 10.0], rtol=1e-6)


def test_functions_take_explicit_variables() -> None:
    g, b = tf.Variable([2.0]), tf.Variable([1.0])
    mm, mv = tf.Variable([0.0]), tf.Variable([1.0])
    x = tf.constant([[-1.0], [1.0]])
    y = batch_norm_train(x, g, b, mm, mv, momentum=0.0, epsilon=1e-3)
    np.testing.assert_allclose(y.numpy().ravel(), [1 - 2 / np.sqrt(1.001), 1 + 2 / np.sqrt(1.001)])
    np.testing.assert_allclose(batch_norm_infer(x, g, b, mm, mv, epsilon=1e-3), y, rtol=1e-6)


def test_works_inside_tf_function() -> None:
    low = LowLevelBatchNorm(3, momentum=0.0)
    step = tf.function(lambda x: low(x, training=True))
    x = tf.constant(np.arange(12, dtype="float32").reshape(4, 3))
    step(x)
    np.testing.assert_allclose(low.moving_mean.numpy(), x.numpy().mean(axis=0), rtol=1e-6)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="1.5"):
        LowLevelBatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="0.0"):
        LowLevelBatchNorm(3, epsilon=0.0)
    low = LowLevelBatchNorm(3)
    with pytest.raises(ValueError, match="got 3"):
        low.set_weights(low.get_weights()[:3])
    with pytest.raises(ValueError, match=r"rank >= 2"):
        low(tf.constant([1.0, 2.0, 3.0]), training=True)
    with pytest.raises(ValueError, match="-0.5"):
        batch_norm_train(tf.ones((2, 3)), *low.weights, momentum=-0.5)


def test_tf1_update_ops_run_only_with_the_control_dependency() -> None:
    batches = np.random.default_rng(0).normal(3.0, 1.0, size=(30, 16, 2)).astype("float32")
    without = tf1_moving_mean_after_training(batches, with_update_dependency=False)
    with_dep = tf1_moving_mean_after_training(batches, with_update_dependency=True)
    np.testing.assert_array_equal(without, [0.0, 0.0])  # never updated
    expected = 0.0
    for batch in batches:
        expected = 0.9 * expected + 0.1 * batch.mean(axis=0)
    np.testing.assert_allclose(with_dep, expected, rtol=1e-5)
