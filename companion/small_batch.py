"""How normalization layers cope with small batches: models and a batch-size sweep.

- :func:`norm_layer`: a Keras normalization layer by name (batch, group, layer, and Batch
  Renormalization from the course's twin or from Keras when the installed stack has it).
- :func:`build_norm_mlp`: the same MLP for the flattened digits with any of them.
- :func:`recalibrate_batch_norm`: replaces BN's moving statistics by population statistics.
- :func:`batch_size_sweep`: trains one architecture at several batch sizes over seeds for a
  fixed number of epochs and records the test accuracy, the experiment of Wu and He (2018),
  Figure 1, at the scale of the 8x8 digits.

The training loop runs a whole epoch inside one ``tf.function`` (a graph loop over the
batches), so that thousands of steps of batch size 2 cost milliseconds of Python, not seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from companion.data import Split
from companion.placement import restart_training

#: The normalizations :func:`norm_layer` knows, besides ``"none"``.
NORMS = ("batch", "group", "layer", "renorm", "keras_renorm")


def norm_layer(
    kind: str, *, groups: int = 8, momentum: float = 0.9, name: str | None = None
) -> keras.Layer:
    """A normalization layer for ``(N, C)`` or ``(N, ..., C)`` inputs, channels last.

    Args:
        kind: ``"batch"`` (Keras's ``BatchNormalization``), ``"group"``
            (``GroupNormalization(groups)``), ``"layer"`` (``LayerNormalization``),
            ``"renorm"`` (the course's ``ScratchBatchNormalization(renorm=True)``),
            ``"keras_renorm"`` (``BatchNormalization(renorm=True)``, Keras >= 3.14), or
            ``"none"`` (identity).
        groups: Groups of :class:`keras.layers.GroupNormalization`.
        momentum: Momentum of the moving statistics of the BN variants. 0.9 rather than
            Keras's 0.99, so that they keep up in a run of a few hundred steps.
        name: Layer name.

    Raises:
        ValueError: For an unknown ``kind``, or a Batch Renormalization the installed
            stack does not have.
    """
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=momentum, name=name)
    if kind == "group":
        return keras.layers.GroupNormalization(groups=groups, name=name)
    if kind == "layer":
        return keras.layers.LayerNormalization(name=name)
    if kind == "none":
        return keras.layers.Identity(name=name)
    if kind == "renorm":
        from companion.keras_bn import ScratchBatchNormalization

        try:
            return ScratchBatchNormalization(
                momentum=momentum, renorm=True, renorm_momentum=momentum, name=name
            )
        except TypeError as err:
            raise ValueError(f"this companion's twin has no renorm argument ({err})") from err
    if kind == "keras_renorm":
        from companion.compat import builtin_bn_accepts

        if not builtin_bn_accepts("renorm"):
            raise ValueError(
                f"kind={kind!r} needs keras.layers.BatchNormalization(renorm=...), Keras >= 3.14; "
                f"installed: Keras {keras.__version__}"
            )
        return keras.layers.BatchNormalization(
            momentum=momentum, renorm=True, renorm_momentum=momentum, name=name
        )
    raise ValueError(f"kind must be one of {(*NORMS, 'none')}, got {kind!r}")


def build_norm_mlp(
    kind: str,
    *,
    seed: int,
    units: int = 64,
    depth: int = 2,
    groups: int = 8,
    momentum: float = 0.9,
) -> keras.Sequential:
    """An MLP for the flattened digits, ``(N, 64)`` -> 10 logits.

    ``depth`` hidden blocks of ``Dense(units, use_bias=False)`` -> normalization -> ReLU,
    then ``Dense(10)``. Only the normalization differs between kinds.

    Args:
        kind: See :func:`norm_layer`.
        seed: Seed of the weight initialization.
        units: Width of each hidden layer.
        depth: Number of hidden blocks.
        groups: Groups of the group normalization.
        momentum: Momentum of the BN variants' moving statistics.
    """
    keras.utils.set_random_seed(seed)
    layers: list = [keras.Input((64,))]
    for _ in range(depth):
        layers += [
            keras.layers.Dense(units, use_bias=False),
            norm_layer(kind, groups=groups, momentum=momentum),
            keras.layers.ReLU(),
        ]
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers, name=f"mlp_{kind}")


class BatchSizeSweep(NamedTuple):
    """What :func:`batch_size_sweep` records.

    Attributes:
        batch_sizes: Shape ``(B,)``.
        seeds: Shape ``(S,)``.
        test_accuracy: Shape ``(B, S)``: test accuracy after the last epoch, inference mode
            (BN layers use their moving statistics).
        test_accuracy_batch_stats: Shape ``(B, S)``: the same models in training mode on the
            whole test set as one batch, so that BN layers use that batch's statistics
            instead of their moving averages. Equal to ``test_accuracy`` for per-example
            normalizations.
        seconds: Wall-clock seconds of the whole sweep (a measurement, machine-dependent).
        model: The model after the last run (last batch size, last seed).
    """

    batch_sizes: np.ndarray
    seeds: np.ndarray
    test_accuracy: np.ndarray
    test_accuracy_batch_stats: np.ndarray
    seconds: float
    model: keras.Model


def _epoch_function(model: keras.Model, optimizer, input_shape: tuple[int, ...]):
    """A compiled function that takes ``(steps, batch, ...)`` arrays and trains one epoch."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    signature = [
        tf.TensorSpec((None, None, *input_shape), tf.float32),
        tf.TensorSpec((None, None), tf.int64),
    ]

    @tf.function(input_signature=signature)
    def epoch(x_batches, y_batches):
        for i in tf.range(tf.shape(x_batches)[0]):
            with tf.GradientTape() as tape:
                loss = loss_fn(y_batches[i], model(x_batches[i], training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)

    return epoch


def batch_size_sweep(
    build: Callable[[int], keras.Model],
    split: Split,
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    *,
    epochs: int = 3,
    learning_rate: float = 1e-3,
) -> BatchSizeSweep:
    """Train ``build(seed)`` with Adam at every batch size and seed for ``epochs`` epochs.

    Every run sees the same number of examples (``epochs`` passes over the training set,
    the last incomplete batch of each pass dropped), so smaller batches take more, noisier
    steps, as in Wu and He's Figure 1. One model, one optimizer and one compiled epoch serve
    every run: weights (moving statistics included) are copied from a fresh ``build(seed)``
    and the optimizer's state is reset. Each seed shuffles the data in its own order.

    Args:
        build: Returns a new, built model for a seed; the model outputs logits.
        split: Training and test data; integer labels.
        batch_sizes: Examples per step, each at most the training-set size.
        seeds: One run per seed and batch size.
        epochs: Passes over the training data.
        learning_rate: Adam's learning rate, the same for every batch size.

    Returns:
        A :class:`BatchSizeSweep`.

    Raises:
        ValueError: On empty ``batch_sizes`` or ``seeds``, ``epochs < 1``, or a batch size
            outside ``1 .. len(split.x_train)``.
    """
    n_train = len(split.x_train)
    if len(seeds) == 0 or len(batch_sizes) == 0 or epochs < 1:
        raise ValueError(
            f"need batch sizes, seeds and epochs >= 1; got batch_sizes={list(batch_sizes)}, "
            f"seeds={list(seeds)}, epochs={epochs}"
        )
    for size in batch_sizes:
        if not 1 <= size <= n_train:
            raise ValueError(f"batch sizes must be in 1..{n_train}, got batch size {size}")
    start = time.perf_counter()
    model = build(seeds[0])
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)
    fresh_optimizer = [v.numpy() for v in optimizer.variables]
    epoch = _epoch_function(model, optimizer, split.x_train.shape[1:])
    x_train = split.x_train.astype(np.float32)

    accuracy = np.zeros((len(batch_sizes), len(seeds)))
    accuracy_batch_stats = np.zeros_like(accuracy)
    for row, size in enumerate(batch_sizes):
        steps = n_train // size
        for column, seed in enumerate(seeds):
            restart_training(model, optimizer, build(seed).get_weights(), fresh_optimizer)
            order = np.random.default_rng(seed)
            for _ in range(epochs):
                batches = order.permutation(n_train)[: steps * size].reshape(steps, size)
                epoch(x_train[batches], split.y_train[batches])
            accuracy[row, column] = _accuracy(model, split, training=False)
            # Training mode updates the moving statistics: measure, then put them back.
            saved = [v.numpy() for v in model.non_trainable_variables]
            accuracy_batch_stats[row, column] = _accuracy(model, split, training=True)
            for variable, value in zip(model.non_trainable_variables, saved, strict=True):
                variable.assign(value)
    return BatchSizeSweep(
        np.asarray(batch_sizes),
        np.asarray(seeds),
        accuracy,
        accuracy_batch_stats,
        time.perf_counter() - start,
        model,
    )


def _accuracy(model: keras.Model, split: Split, *, training: bool) -> float:
    logits = keras.ops.convert_to_numpy(model(split.x_test, training=training))
    return float(np.mean(np.argmax(logits, axis=-1) == split.y_test))


def recalibrate_batch_norm(model: keras.Model, x: np.ndarray) -> keras.Model:
    """Set every BN layer's moving mean and variance to its statistics over all of ``x``.

    One training-mode pass over ``x`` as a single batch with each BN layer's momentum set
    to 0: every layer then stores the mean and (biased) variance of its input over ``x``,
    with the layers before it normalized by their own statistics over ``x``, i.e. the
    population statistics of the paper's inference mode. No weight other than the moving
    statistics changes. Use it only for models without dropout (training mode would apply it).

    Args:
        model: A Keras model with ``BatchNormalization`` layers.
        x: Inputs, e.g. the whole training set.

    Returns:
        ``model``, changed in place.
    """
    layers = [layer for layer in _all_layers(model) if _is_batch_norm(layer)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no BatchNormalization layer to recalibrate")
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return model


def _all_layers(layer):
    yield layer
    for sublayer in getattr(layer, "layers", []):
        yield from _all_layers(sublayer)


def _is_batch_norm(layer) -> bool:
    from companion.keras_bn import ScratchBatchNormalization

    return isinstance(layer, keras.layers.BatchNormalization | ScratchBatchNormalization)
