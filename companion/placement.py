"""Experiments on where to put BN: models, a seed-repeating trainer and measurements.

- :func:`conv_bn_relu` and :func:`build_digits_cnn`: the same small CNN with BN before
  the ReLU (on the pre-activation, as in Ioffe and Szegedy, 2015) or after it.
- :func:`build_dropout_mlp`: an MLP with dropout before a BN layer or after the last one.
- :func:`residual_block`: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU (He et al.,
  2016), written with the functional API.
- :func:`train_over_seeds`: trains one architecture from several random
  initializations and records the test accuracy after every epoch.
- :func:`inference_seconds`: timing of compiled inference, interleaved between models.
- :func:`inference_ops`: what the compiled inference graph does per example, counted
  (operations and values written), which unlike a timing does not depend on the machine.
- :func:`bn_inputs` and :func:`bn_input_variance`: what enters a BN layer and its
  per-channel variance, in training or inference mode, to check the shape of BN's input
  and to measure the variance shift dropout causes (Li et al., 2019).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from companion.data import Split

PLACEMENTS = ("before", "after")


def conv_bn_relu(filters: int, placement: str, *, momentum: float = 0.9) -> list[keras.Layer]:
    """One convolution stage with BN before or after the ReLU.

    Args:
        filters: Number of output channels of the 3x3 convolution.
        placement: `"before"`: Conv (no bias) -> BN -> ReLU, BN normalizes the
            pre-activation. `"after"`: Conv (bias) -> ReLU -> BN, BN normalizes the
            activation.
        momentum: Momentum of BN's moving averages.

    Returns:
        The layers of the stage, in order.
    """
    if placement == "before":
        return [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=momentum),
            keras.layers.ReLU(),
        ]
    if placement == "after":
        return [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(momentum=momentum),
        ]
    raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")


def build_digits_cnn(placement: str, *, seed: int, momentum: float = 0.9) -> keras.Sequential:
    """A three-stage CNN for the 8x8 digits, `(N, 8, 8, 1)` -> 10 logits.

    Three stages of 16, 32 and 32 channels (:func:`conv_bn_relu`), a 2x2 max pool after
    the first, global average pooling and a `Dense(10)` classifier.

    Args:
        placement: `"before"` or `"after"` the activation, see :func:`conv_bn_relu`.
        seed: Seed of the weight initialization.
        momentum: Momentum of the BN layers. The default 0.9 (Keras: 0.99) lets the
            moving statistics keep up in a run of only a few hundred steps.
    """
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((8, 8, 1))]
    layers += conv_bn_relu(16, placement, momentum=momentum)
    layers.append(keras.layers.MaxPooling2D(2))
    layers += conv_bn_relu(32, placement, momentum=momentum)
    layers += conv_bn_relu(32, placement, momentum=momentum)
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    return keras.Sequential(layers, name=f"cnn_bn_{placement}")


DROPOUT_POSITIONS = ("before_bn", "after_last_bn")


def build_dropout_mlp(
    position: str, *, seed: int, units: int = 128, rate: float = 0.5, momentum: float = 0.9
) -> keras.Sequential:
    """A two-hidden-layer MLP for the flattened digits, `(N, 64)` -> 10 logits.

    Each hidden layer is Dense (no bias) -> BN -> ReLU. Dropout sits either between
    the two hidden layers, so that the second BN normalizes dropped-out activations
    (`"before_bn"`), or after the last BN, just before the classifier
    (`"after_last_bn"`, the ordering Li et al., 2019, recommend).

    Args:
        position: One of `DROPOUT_POSITIONS`.
        seed: Seed of the weight initialization and of the dropout masks.
        units: Width of each hidden layer.
        rate: Dropout rate `p`, the probability of zeroing a unit.
        momentum: Momentum of the BN layers.
    """
    if position not in DROPOUT_POSITIONS:
        raise ValueError(f"position must be one of {DROPOUT_POSITIONS}, got {position!r}")
    keras.utils.set_random_seed(seed)

    def hidden() -> list[keras.Layer]:
        return [
            keras.layers.Dense(units, use_bias=False),
            keras.layers.BatchNormalization(momentum=momentum),
            keras.layers.Activation("relu"),
        ]

    dropout = [keras.layers.Dropout(rate, seed=seed)]
    middle = dropout if position == "before_bn" else []
    last = dropout if position == "after_last_bn" else []
    layers = [keras.Input((64,)), *hidden(), *middle, *hidden(), *last, keras.layers.Dense(10)]
    return keras.Sequential(layers, name=f"mlp_dropout_{position}")


def residual_block(x, filters: int, *, momentum: float = 0.9, name: str = "res"):
    """A basic residual block: `relu(x + BN(conv(relu(BN(conv(x))))))`.

    The convolutions have no bias (BN's beta takes that role). When `x` does not
    already have `filters` channels, a 1x1 convolution with BN projects the shortcut.

    Args:
        x: A symbolic tensor `(N, H, W, C)`.
        filters: Channels of the block's output.
        momentum: Momentum of the BN layers.
        name: Prefix of the layer names.

    Returns:
        The block's output tensor `(N, H, W, filters)`.
    """

    def conv(kernel_size: int, suffix: str) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(
            filters, kernel_size, padding="same", use_bias=False, name=f"{name}_{suffix}"
        )

    def bn(suffix: str) -> keras.layers.BatchNormalization:
        return keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_{suffix}")

    y = keras.layers.ReLU(name=f"{name}_relu1")(bn("bn1")(conv(3, "conv1")(x)))
    y = bn("bn2")(conv(3, "conv2")(y))
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = bn("proj_bn")(conv(1, "proj")(x))
    return keras.layers.ReLU(name=f"{name}_out")(
        keras.layers.Add(name=f"{name}_add")([shortcut, y])
    )


class SeedRuns(NamedTuple):
    """What :func:`train_over_seeds` records.

    Attributes:
        epochs: Shape `(E,)`, the epoch numbers 1..E.
        test_accuracy: Shape `(R, E)`, one row per seed.
        model: The model after training with the last seed.
    """

    epochs: np.ndarray
    test_accuracy: np.ndarray
    model: keras.Model


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model(x, training=False)
    return float(np.mean(np.argmax(keras.ops.convert_to_numpy(logits), axis=-1) == y))


def restart_training(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    weights: list[np.ndarray],
    optimizer_state: list[np.ndarray],
) -> None:
    """Put a model and its optimizer back at the start of training, in place.

    Re-using one model, optimizer and compiled step for every seed (instead of building new
    ones) keeps a multi-seed experiment from retracing its ``tf.function`` each time.

    Args:
        model: The model to reset.
        optimizer: Its optimizer, already built.
        weights: The model's starting weights, e.g. ``build(seed).get_weights()``.
        optimizer_state: ``[v.numpy() for v in optimizer.variables]`` saved right after
            building the optimizer (step count and zeroed moments).
    """
    model.set_weights(weights)
    for variable, value in zip(optimizer.variables, optimizer_state, strict=True):
        variable.assign(value)


def train_over_seeds(
    build: Callable[[int], keras.Model],
    split: Split,
    seeds: Sequence[int],
    *,
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
) -> SeedRuns:
    """Train `build(seed)` with Adam for every seed and record the test accuracy.

    One model and one compiled training step serve every seed: for each seed the
    weights (moving statistics included) are copied from a fresh `build(seed)` and the
    optimizer state is reset, which is equivalent to training a new model but traces
    the step once. Each seed also shuffles the data in its own order; the last,
    incomplete batch of an epoch is dropped.

    Args:
        build: Returns a new, built model for a seed; the model outputs logits.
        split: Training and test data; labels are integers.
        seeds: One run per seed.
        epochs: Passes over the training data.
        batch_size: Examples per step.
        learning_rate: Adam's learning rate.

    Returns:
        A :class:`SeedRuns`.
    """
    if len(seeds) == 0 or epochs < 1 or batch_size < 1:
        raise ValueError(
            f"need seeds, epochs >= 1, batch_size >= 1; got {seeds}, {epochs}, {batch_size}"
        )
    model = build(seeds[0])
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)
    fresh_optimizer = [v.numpy() for v in optimizer.variables]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)

    steps = len(split.x_train) // batch_size
    accuracy = np.zeros((len(seeds), epochs))
    for run, seed in enumerate(seeds):
        restart_training(model, optimizer, build(seed).get_weights(), fresh_optimizer)
        order = np.random.default_rng(seed)
        for epoch in range(epochs):
            batches = order.permutation(len(split.x_train))[: steps * batch_size]
            for batch in batches.reshape(steps, batch_size):
                step(split.x_train[batch], split.y_train[batch])
            accuracy[run, epoch] = _accuracy(model, split.x_test, split.y_test)
    return SeedRuns(np.arange(1, epochs + 1), accuracy, model)


def bn_inputs(
    model: keras.Model, bn: keras.layers.Layer, x: np.ndarray, *, training: bool = False
) -> np.ndarray:
    """The values that enter `bn` when `model` runs on `x`, one column per channel.

    Args:
        model: A single-input functional or `Sequential` model built on a `keras.Input`.
        bn: One of its BN layers (its last axis holds the channels).
        x: A batch of inputs; pass the whole data set so that, in training mode, the
            earlier BN layers see population statistics.
        training: `True` runs every layer in training mode (dropout active, batch
            statistics); `False` in inference mode.

    Returns:
        Shape `(M, C)`: every position of every example as a row, `C` channels.
    """
    probe = keras.Model(model.inputs[0], bn.input)
    values = keras.ops.convert_to_numpy(probe(x, training=training))
    return values.reshape(-1, values.shape[-1])


def bn_input_variance(
    model: keras.Model, bn: keras.layers.Layer, x: np.ndarray, *, training: bool
) -> np.ndarray:
    """Per-channel variance of the tensor that enters `bn` (see :func:`bn_inputs`).

    Returns:
        Shape `(C,)`, the variance over every axis but the last.
    """
    return bn_inputs(model, bn, x, training=training).var(axis=0)


def inference_seconds(
    models: Sequence[keras.Model], x: np.ndarray, *, repeats: int = 11, number: int = 2
) -> np.ndarray:
    """Time inference of several models on the same batch, interleaved.

    Each model is wrapped in a `tf.function` (graph mode, as when serving) and called
    once before timing so that tracing is not measured. Every repeat times each model
    in turn, so a burst of load on a shared machine slows all of them alike; compare
    models with the median over repeats of their per-repeat ratios.

    Args:
        models: The models to compare; all take `x`.
        x: One input batch.
        repeats: Number of rounds.
        number: Calls per model and round; the time is divided by it.

    Returns:
        Shape `(repeats, len(models))`: seconds per call.
    """
    batch = tf.constant(x)
    calls = []
    for model in models:
        call = tf.function(model.__call__)
        call(batch, training=False)
        calls.append(call)
    seconds = np.zeros((repeats, len(models)))
    for repeat in range(repeats):
        for column, call in enumerate(calls):
            start = time.perf_counter()
            for _ in range(number):
                call(batch, training=False)
            seconds[repeat, column] = (time.perf_counter() - start) / number
    return seconds


class GraphOps(NamedTuple):
    """What :func:`inference_ops` counts in a compiled inference graph.

    Attributes:
        by_type: Operation type (``"Conv2D"``, ``"Mul"``, ...) -> number of operations
            whose output has the batch axis, i.e. that run on every example.
        total: The sum of ``by_type``.
        values_per_example: How many values those operations write per example: a
            machine-independent measure of the memory traffic of one prediction.
    """

    by_type: Counter
    total: int
    values_per_example: int


def inference_ops(model: keras.Model, example_shape: Sequence[int]) -> GraphOps:
    """Count the per-example operations of `model`'s inference graph.

    Traces `model(x, training=False)` as a `tf.function` for float32 inputs of shape
    `(None, *example_shape)` and keeps the operations whose output has that unknown batch
    axis: the work done for every example, as opposed to reading weights or computing
    per-channel constants once. Placeholders and the final `Identity` are left out.

    Args:
        model: A built Keras model with one input.
        example_shape: Shape of one example, e.g. `(8, 8, 1)`.

    Returns:
        A :class:`GraphOps`.

    Raises:
        ValueError: If `example_shape` is empty or has a non-positive entry.
    """
    shape = tuple(int(d) for d in example_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"example_shape must be a non-empty shape of positive sizes, got {shape}")
    spec = tf.TensorSpec((None, *shape), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    counts: Counter = Counter()
    values = 0
    for op in graph.get_operations():
        if op.type in ("Placeholder", "Identity", "NoOp"):
            continue
        per_example = [t for t in op.outputs if t.shape.rank and t.shape[0] is None]
        if per_example:
            counts[op.type] += 1
            values += sum(int(np.prod(t.shape[1:])) for t in per_example)
    return GraphOps(counts, sum(counts.values()), values)
