"""Tests of companion.placement: the models, the seed-repeating trainer and the probes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion.data import Split
from companion.placement import (
    bn_input_variance,
    bn_inputs,
    build_digits_cnn,
    build_dropout_mlp,
    conv_bn_relu,
    inference_ops,
    inference_seconds,
    residual_block,
    train_over_seeds,
)

L = keras.layers


def _kinds(layers) -> list[str]:
    return [type(layer).__name__ for layer in layers]


def test_conv_bn_relu_orders() -> None:
    before = conv_bn_relu(8, "before")
    assert _kinds(before) == ["Conv2D", "BatchNormalization", "ReLU"]
    assert not before[0].use_bias
    after = conv_bn_relu(8, "after", momentum=0.5)
    assert _kinds(after) == ["Conv2D", "BatchNormalization"]
    assert after[0].use_bias and after[0].get_config()["activation"] == "relu"
    assert after[1].momentum == 0.5
    with pytest.raises(ValueError, match="'middle'"):
        conv_bn_relu(8, "middle")


@pytest.mark.parametrize("placement", ["before", "after"])
def test_digits_cnn_shapes_and_seed(placement: str) -> None:
    model = build_digits_cnn(placement, seed=3)
    assert model.output_shape == (None, 10)
    assert sum(isinstance(layer, L.BatchNormalization) for layer in model.layers) == 3
    again = build_digits_cnn(placement, seed=3)
    other = build_digits_cnn(placement, seed=4)
    np.testing.assert_array_equal(model.layers[0].kernel, again.layers[0].kernel)
    assert not np.allclose(model.layers[0].kernel, other.layers[0].kernel)


def test_dropout_mlp_orders() -> None:
    before = _kinds(build_dropout_mlp("before_bn", seed=0).layers)
    assert before[3:6] == ["Dropout", "Dense", "BatchNormalization"]
    after = _kinds(build_dropout_mlp("after_last_bn", seed=0, units=8).layers)
    assert after[-2:] == ["Dropout", "Dense"] and after.count("Dropout") == 1
    assert "Dropout" not in after[: after.index("Dropout")]
    with pytest.raises(ValueError, match="'between'"):
        build_dropout_mlp("between", seed=0)


@pytest.mark.parametrize("channels, projected", [(8, False), (4, True)])
def test_residual_block(channels: int, projected: bool) -> None:
    inputs = keras.Input((6, 6, channels))
    model = keras.Model(inputs, residual_block(inputs, 8, name="blk"))
    assert model.output_shape == (None, 6, 6, 8)
    names = {layer.name for layer in model.layers}
    assert ("blk_proj" in names) == projected
    x = np.random.default_rng(0).normal(size=(2, 6, 6, channels)).astype(np.float32)
    y = keras.ops.convert_to_numpy(model(x))
    assert y.min() >= 0.0  # the block ends with a ReLU
    if not projected:
        # With both convolutions zeroed the residual branch is BN(0) = beta = 0 and the
        # block returns relu(x): the shortcut carries the input through.
        for name in ("blk_conv1", "blk_conv2"):
            layer = model.get_layer(name)
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
        np.testing.assert_allclose(model(x), np.maximum(x, 0.0), atol=1e-6)


def _tiny_split() -> Split:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return Split(x[:64], x[64:], y[:64], y[64:])


def _tiny_mlp(seed: int) -> keras.Sequential:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(8, use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.Dense(2),
        ]
    )


def test_train_over_seeds_equals_separate_runs() -> None:
    split = _tiny_split()
    together = train_over_seeds(_tiny_mlp, split, [0, 1], epochs=3, batch_size=16)
    alone = train_over_seeds(_tiny_mlp, split, [1], epochs=3, batch_size=16)
    assert together.test_accuracy.shape == (2, 3)
    np.testing.assert_array_equal(together.epochs, [1, 2, 3])
    np.testing.assert_allclose(together.test_accuracy[1], alone.test_accuracy[0])
    for a, b in zip(together.model.get_weights(), alone.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_train_over_seeds_learns() -> None:
    runs = train_over_seeds(_tiny_mlp, _tiny_split(), [0], epochs=20, learning_rate=1e-2)
    assert runs.test_accuracy[0, -1] > 0.8  # a linearly separable problem
    with pytest.raises(ValueError, match="epochs"):
        train_over_seeds(_tiny_mlp, _tiny_split(), [0], epochs=0)


def test_bn_input_variance_sees_dropout() -> None:
    keras.utils.set_random_seed(0)
    bn = L.BatchNormalization()
    model = keras.Sequential([keras.Input((200,)), L.Dropout(0.5), bn])
    x = np.random.default_rng(0).normal(1.0, 1.0, size=(4000, 200)).astype(np.float32)
    inference = bn_input_variance(model, bn, x, training=False)
    np.testing.assert_allclose(inference, x.var(axis=0), rtol=1e-4)
    training = bn_input_variance(model, bn, x, training=True)
    # Inverted dropout: Var = (var + mean^2) / (1 - p) - mean^2 = 2 * 2 - 1 = 3.
    assert training.shape == (200,)
    np.testing.assert_allclose(training.mean(), 3.0, rtol=0.03)


def test_bn_inputs_are_the_pre_activation() -> None:
    model = build_digits_cnn("before", seed=0)
    conv, bn = model.layers[0], model.layers[1]
    x = np.random.default_rng(1).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    values = bn_inputs(model, bn, x)
    assert values.shape == (3 * 8 * 8, 16)
    np.testing.assert_allclose(values, keras.ops.convert_to_numpy(conv(x)).reshape(-1, 16))


def test_inference_seconds_shape() -> None:
    model = _tiny_mlp(0)
    seconds = inference_seconds([model, model], np.ones((8, 4), np.float32), repeats=3, number=1)
    assert seconds.shape == (3, 2)
    assert np.all(seconds > 0)


def test_inference_ops_counts_the_per_example_work() -> None:
    model = build_digits_cnn("before", seed=0)
    ops = inference_ops(model, (8, 8, 1))
    assert ops.total == sum(ops.by_type.values())
    # Keras runs an inference-mode BN as one multiply and one add per activation.
    assert ops.by_type["Conv2D"] == 3 and ops.by_type["Mul"] == 3 and ops.by_type["Relu"] == 3
    # Values a convolution writes per example = its output size; the multiply, the add and
    # the ReLU after it write as many again each.
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    conv_values = sum(int(np.prod(layer.output.shape[1:])) for layer in convs)
    assert ops.values_per_example > 4 * conv_values
    small = inference_ops(_tiny_mlp(0), (4,))
    # Dense (MatMul), BN (Mul, add), ReLU, Dense (MatMul, bias add): 8 + 8 + 8 + 8 + 2 + 2.
    # (Keras adds a bias with BiasAdd or AddV2 depending on its version.)
    assert small.by_type["MatMul"] == 2 and small.by_type["Mul"] == 1
    assert small.by_type["Relu"] == 1 and small.total == 6
    assert small.values_per_example == 36
    with pytest.raises(ValueError, match=r"got \(8, 0\)"):
        inference_ops(model, (8, 0))


def test_restart_training_restores_weights_and_optimizer_state() -> None:
    from companion.placement import restart_training

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.Adam(0.1)
    optimizer.build(model.trainable_variables)
    start_weights = model.get_weights()
    start_state = [v.numpy() for v in optimizer.variables]
    x = np.ones((4, 3), dtype="float32")
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(model(x) ** 2)
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    assert not np.allclose(model.get_weights()[0], start_weights[0])
    assert int(optimizer.iterations.numpy()) == 1
    restart_training(model, optimizer, start_weights, start_state)
    for got, want in zip(model.get_weights(), start_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for variable, want in zip(optimizer.variables, start_state, strict=True):
        np.testing.assert_array_equal(variable.numpy(), want)
