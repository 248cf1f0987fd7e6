"""Many small MLPs trained at once: the engine behind the tuning chapter's sweeps.

:func:`train_stack` trains a list of *trials*, each a :func:`companion.tuning.build_mlp`
network with its own hyperparameters and seed, side by side: every weight gets a leading
axis of length K (one slice per trial), so one compiled graph does K trainings with a
batched matrix product instead of K small ones. On a CPU this is many times faster than
one trial after another. No member sees another's data order, weights or gradients, and
``tests/test_tuning.py`` checks that a member trains exactly like the Keras model with
Keras's own ``Adam``/``SGD``, ``BatchNormalization`` and ``L2`` regularizer.

Per trial, BN can be on or off and the width can be smaller than the stack's (the unused
units are masked), so a whole search space of one depth fits in one stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from companion.data import Split

#: Every per-trial hyperparameter :func:`train_stack` understands, with its default.
#: ``init_scale`` multiplies He's standard deviation ``sqrt(2 / fan_in)``; ``beta_1``,
#: ``beta_2`` and ``epsilon`` are Adam's (Keras's defaults), ``momentum`` is SGD's.
#: ``width=None`` means the stack's width.
HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "batch_norm": True,
    "width": None,
    "init_scale": 1.0,
    "l2": 0.0,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-7,
    "momentum": 0.9,
    "bn_momentum": 0.9,
    "bn_epsilon": 1e-3,
    "seed": 0,
}
OPTIMIZERS = ("adam", "sgd")


class StackRecord(NamedTuple):
    """What :func:`train_stack` records, one row per trial.

    Attributes:
        epochs: Shape ``(E,)``, the epoch numbers 1..E.
        val_accuracy: Shape ``(K, E)``, accuracy on the held-out data after each epoch,
            in inference mode (BN uses its moving averages).
        train_loss: Shape ``(K, E)``, mean training loss (penalty included) of each
            epoch; ``nan`` or ``inf`` once a trial has diverged.
    """

    epochs: np.ndarray
    val_accuracy: np.ndarray
    train_loss: np.ndarray


class _Stack:
    """Variables and compiled steps for K MLPs of one architecture; K may change per run."""

    def __init__(self, depth: int, width: int, optimizer: str, inputs: int, classes: int):
        self.dims = [inputs] + [width] * depth + [classes]
        self.optimizer = optimizer

        def var(*shape: int) -> tf.Variable:
            return tf.Variable(tf.zeros((1, *shape)), shape=tf.TensorShape((None, *shape)))

        pairs = list(zip(self.dims[:-1], self.dims[1:], strict=True))
        self.kernels = [var(a, b) for a, b in pairs]
        self.biases = [var(1, b) for _, b in pairs]
        self.gammas, self.betas = (
            [var(1, width) for _ in range(depth)],
            [var(1, width) for _ in range(depth)],
        )
        self.moving = [(var(1, width), var(1, width)) for _ in range(depth)]
        self.params = self.kernels + self.biases + self.gammas + self.betas
        self.slots = [[var(*p.shape[1:]) for p in self.params] for _ in range(2)]
        self.hp = {
            name: tf.Variable(tf.zeros(1), shape=tf.TensorShape([None])) for name in HYPERPARAMETERS
        }
        self.mask = var(1, width)
        self.step = tf.Variable(0.0)
        signature = [tf.TensorSpec([None, inputs]), tf.TensorSpec([None], tf.int32)]
        self.epoch = tf.function(
            self._epoch, input_signature=[*signature, tf.TensorSpec([None, None, None], tf.int32)]
        )
        self.accuracy = tf.function(self._accuracy, input_signature=signature)

    def _h(self, name: str) -> tf.Tensor:  # a per-trial hyperparameter, shaped (K, 1, 1)
        return self.hp[name][:, None, None]

    def _forward(self, h: tf.Tensor, training: bool) -> tf.Tensor:
        use_bn = self._h("batch_norm") > 0.5
        for layer, (mm, mv) in enumerate(self.moving):
            z = tf.matmul(h, self.kernels[layer])
            if training:
                mean, var = tf.nn.moments(z, axes=[1], keepdims=True)
                decay = self._h("bn_momentum")
                mm.assign(decay * mm + (1 - decay) * mean)
                mv.assign(decay * mv + (1 - decay) * var)
            else:
                mean, var = mm, mv
            normalized = (z - mean) * tf.math.rsqrt(var + self._h("bn_epsilon"))
            bn = normalized * self.gammas[layer] + self.betas[layer]
            h = tf.nn.relu(tf.where(use_bn, bn, z + self.biases[layer])) * self.mask
        return tf.matmul(h, self.kernels[-1]) + self.biases[-1]

    def _apply(self, grads: list[tf.Tensor]) -> None:
        lr = self._h("learning_rate")
        if self.optimizer == "sgd":  # Keras's SGD: v = momentum * v - lr * g; w += v
            for p, g, v in zip(self.params, grads, self.slots[0], strict=True):
                v.assign(self._h("momentum") * v - lr * g)
                p.assign_add(v)
            return
        b1, b2 = self._h("beta_1"), self._h("beta_2")  # Keras's Adam, bias-corrected in alpha
        alpha = lr * tf.sqrt(1 - b2**self.step) / (1 - b1**self.step)
        for p, g, m, v in zip(self.params, grads, *self.slots, strict=True):
            m.assign_add((g - m) * (1 - b1))
            v.assign_add((g * g - v) * (1 - b2))
            p.assign_sub(alpha * m / (tf.sqrt(v) + self._h("epsilon")))

    def _epoch(self, x: tf.Tensor, y: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
        """One pass: ``order`` is ``(S, K, B)``, the examples of each step for each trial."""
        total = tf.zeros_like(self.hp["seed"])
        for s in tf.range(tf.shape(order)[0]):
            self.step.assign_add(1.0)
            with tf.GradientTape() as tape:
                logits = self._forward(tf.gather(x, order[s]), training=True)
                labels = tf.gather(y, order[s])
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                penalty = tf.add_n([tf.reduce_sum(w * w, axis=[1, 2]) for w in self.kernels])
                loss = tf.reduce_mean(ce, axis=1) + self.hp["l2"] * penalty
                summed = tf.reduce_sum(loss)  # trials share no weights: each gets its own gradient
            self._apply(tape.gradient(summed, self.params))
            total += loss
        return total / tf.cast(tf.shape(order)[0], tf.float32)

    def _accuracy(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        k = tf.shape(self.hp["seed"])[0]
        logits = self._forward(tf.tile(x[None], [k, 1, 1]), training=False)
        hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y)
        return tf.reduce_mean(tf.cast(hits, tf.float32), axis=1)

    def reset(self, trials: list[dict[str, Any]]) -> list[np.random.Generator]:
        """Fresh weights and optimizer state for ``trials``; returns their data-order RNGs."""
        width = self.dims[1]
        for name in HYPERPARAMETERS:
            self.hp[name].assign(np.array([float(t[name]) for t in trials], np.float32))
        keep = np.array([np.arange(width) < t["width"] for t in trials], np.float32)
        self.mask.assign(keep[:, None, :])
        last = len(self.kernels) - 1
        values = [[] for _ in self.kernels]
        for t, unit in zip(trials, keep, strict=True):
            rng = np.random.default_rng([int(t["seed"]), 0])
            for i, w in enumerate(self.kernels):  # unused units get zero weights
                fan_in = self.dims[0] if i == 0 else t["width"]
                rows = np.ones(w.shape[1]) if i == 0 else unit
                cols = np.ones(w.shape[2]) if i == last else unit
                std = t["init_scale"] * np.sqrt(2.0 / fan_in)
                values[i].append(rng.normal(0.0, std, w.shape[1:]) * np.outer(rows, cols))
        for w, v in zip(self.kernels, values, strict=True):
            w.assign(np.array(v, np.float32))
        k = len(trials)
        for v in self.biases + self.betas + [mm for mm, _ in self.moving] + sum(self.slots, []):
            v.assign(tf.zeros((k, *v.shape[1:])))
        for v in self.gammas + [mv for _, mv in self.moving]:
            v.assign(tf.ones((k, *v.shape[1:])))
        self.step.assign(0.0)
        return [np.random.default_rng([int(t["seed"]), 1]) for t in trials]


_STACKS: dict[tuple, _Stack] = {}


def _complete(trial: Mapping[str, Any], width: int) -> dict[str, Any]:
    unknown = set(trial) - set(HYPERPARAMETERS)
    if unknown:
        raise ValueError(
            f"unknown hyperparameters {sorted(unknown)}; known: {list(HYPERPARAMETERS)}"
        )
    full = {**HYPERPARAMETERS, "width": width, **trial}
    if full["width"] is None:
        full["width"] = width
    if not 1 <= full["width"] <= width:
        raise ValueError(
            f"a trial's width must lie in [1, {width}] (the stack's), got {full['width']!r}"
        )
    if not full["learning_rate"] > 0:
        raise ValueError(f"learning_rate must be positive, got {full['learning_rate']!r}")
    return full


def train_stack(
    trials: Sequence[Mapping[str, Any]],
    split: Split,
    *,
    depth: int = 2,
    width: int = 64,
    optimizer: str = "adam",
    epochs: int = 10,
    batch_size: int = 100,
) -> StackRecord:
    """Train one ``build_mlp`` network per trial, all at once, and score every epoch.

    Args:
        trials: One ``dict`` per network with any keys of :data:`HYPERPARAMETERS`;
            missing ones take the defaults. Trials with the same ``seed`` start from
            the same initial weights (up to their scale) and see the same batches.
        split: Training data in ``x_train``/``y_train``, ``(N, D)`` and ``(N,)``; the
            scores use ``x_test``/``y_test``. When tuning, pass a *validation* split.
        depth: Hidden layers of every network.
        width: Units per hidden layer (a trial's ``width`` may be smaller).
        optimizer: ``"adam"`` or ``"sgd"`` (with momentum), as Keras implements them.
        epochs: Passes over the training data; each drops its last incomplete batch.
        batch_size: Examples per step.

    Returns:
        A :class:`StackRecord` with one row per trial, in order.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if len(trials) == 0:
        raise ValueError(f"trials must hold at least one trial, got {trials!r}")
    n = len(split.x_train)
    if not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an int in [1, {n}], got {batch_size!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    full = [_complete(t, width) for t in trials]
    key = (depth, width, optimizer, split.x_train.shape[1], int(split.y_train.max()) + 1)
    if key not in _STACKS:
        _STACKS[key] = _Stack(*key)
    stack = _STACKS[key]
    orders = stack.reset(full)
    x, y = tf.constant(split.x_train, tf.float32), tf.constant(split.y_train, tf.int32)
    x_val, y_val = tf.constant(split.x_test, tf.float32), tf.constant(split.y_test, tf.int32)
    steps = n // batch_size
    accuracy, loss = np.zeros((len(full), epochs)), np.zeros((len(full), epochs))
    for e in range(epochs):
        order = np.stack([r.permutation(n)[: steps * batch_size] for r in orders])
        order = order.reshape(len(full), steps, batch_size).transpose(1, 0, 2)
        loss[:, e] = stack.epoch(x, y, tf.constant(order, tf.int32)).numpy()
        accuracy[:, e] = stack.accuracy(x_val, y_val).numpy()
    return StackRecord(np.arange(1, epochs + 1), accuracy, loss)
