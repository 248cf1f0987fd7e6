"""Training loops and recorders for the experiments on internal covariate shift.

The models are small fully connected networks (:class:`MLP`) trained with plain
mini-batch SGD in a ``tf.function``-compiled step, so that the chapters can afford a
few thousand steps on a CPU. Everything returned is NumPy: records are ``NamedTuple``
of arrays, one row per recorded step.

What is recorded, and where it comes from:

- :func:`train_classifier`: test accuracy, test loss and the 15th/50th/85th
  percentiles of the input to one sigmoid of the last hidden layer, as in Figure 1
  of Ioffe and Szegedy (2015).
- :func:`gradient_norms`: the per-layer gradient norms of a deep network.
- :func:`train_with_landscape`: how much the loss and its gradient change along the
  gradient direction, the two landscape measures of Santurkar et al. (2018).
- :func:`domain_classifier_test` and :func:`ks_test`: two ways to detect that test
  inputs are distributed differently from training inputs (covariate shift).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from companion.data import Split

__all__ = [
    "PERCENTILES",
    "MLP",
    "DomainTest",
    "GradientNorms",
    "LandscapeRecord",
    "RandomAffineNoise",
    "TrainingRecord",
    "batch_indices",
    "cross_entropy",
    "domain_classifier_test",
    "gradient_norms",
    "ks_test",
    "median_jump",
    "median_spread",
    "percentile_drift",
    "steps_to_accuracy",
    "train_classifier",
    "train_with_landscape",
]

#: The percentiles of a sigmoid's input that the original paper plots.
PERCENTILES = (15.0, 50.0, 85.0)
_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_positive_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


class RandomAffineNoise(keras.layers.Layer):
    """Shift and scale each feature by random amounts that change at every training step.

    At each training call it draws, for every feature ``j``, a scale
    ``a_j ~ U(1, max_scale)`` and a shift ``b_j ~ U(-max_shift, max_shift)`` and returns
    ``a * x + b``; the same ``a`` and ``b`` apply to the whole batch. Placed after a BN
    layer, it moves the distribution of the next layer's input at every step: a
    deliberate, severe internal covariate shift. At inference it is the identity.

    Args:
        max_shift: Largest absolute shift (non-negative).
        max_scale: Largest scale (at least 1).
        seed: Seed of the noise.

    Call arguments:
        inputs: Tensor of shape ``(N, D)``.
        training: Whether to inject noise.

    Reference:
        The "noisy BatchNorm" of Santurkar et al., How Does Batch Normalization Help
        Optimization?, NeurIPS 2018 (they also vary the noise from sample to sample).
    """

    def __init__(self, max_shift: float = 1.0, max_scale: float = 2.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_shift, bool) or not isinstance(max_shift, int | float) or max_shift < 0:
            raise ValueError(f"max_shift must be a non-negative number, got {max_shift!r}")
        if isinstance(max_scale, bool) or not isinstance(max_scale, int | float) or max_scale < 1:
            raise ValueError(f"max_scale must be a number >= 1, got {max_scale!r}")
        self.max_shift = float(max_shift)
        self.max_scale = float(max_scale)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        # Kept so that tests and readers can see the noise of the latest step.
        self.last_scale = self.add_weight(
            name="last_scale", shape=(dim,), initializer="ones", trainable=False
        )
        self.last_shift = self.add_weight(
            name="last_shift", shape=(dim,), initializer="zeros", trainable=False
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        dim = inputs.shape[-1]
        scale = keras.random.uniform(
            (dim,), 1.0, self.max_scale, dtype=inputs.dtype, seed=self.seed_generator
        )
        shift = keras.random.uniform(
            (dim,), -self.max_shift, self.max_shift, dtype=inputs.dtype, seed=self.seed_generator
        )
        self.last_scale.assign(scale)
        self.last_shift.assign(shift)
        return inputs * scale + shift

    def get_config(self):
        config = super().get_config()
        config.update(max_shift=self.max_shift, max_scale=self.max_scale, seed=self.seed)
        return config


class MLP(keras.Model):
    """A fully connected classifier: ``Dense -> [BN -> [noise]] -> activation``, repeated.

    The default is the network of the original BN paper's MNIST experiment: three
    hidden layers of 100 sigmoid units, weights drawn from a small Gaussian. With
    ``batch_norm=True`` a ``keras.layers.BatchNormalization`` sits between each
    ``Dense`` and its activation (the ``Dense`` then has no bias: BN's beta replaces it).

    Args:
        hidden_units: Width of each hidden layer.
        num_classes: Number of output logits.
        activation: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"linear"``.
        batch_norm: Whether to normalize each hidden layer's pre-activation.
        init_stddev: Standard deviation of the Gaussian initial weights (all layers).
        noise_shift, noise_scale: If ``noise_shift > 0`` or ``noise_scale > 1``, a
            :class:`RandomAffineNoise` follows each BN layer ("noisy BN"); needs
            ``batch_norm=True``.
        bn_momentum: Momentum of BN's moving averages. 0.9 (Keras's default is 0.99)
            so that inference statistics keep up within a few hundred steps.
        seed: Seed of the initial weights and of the noise.

    Call arguments:
        inputs: ``(N, D)`` features.
        training: BN uses batch statistics and noise is injected when true.
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (100, 100, 100),
        num_classes: int = 10,
        *,
        activation: str = "sigmoid",
        batch_norm: bool = False,
        init_stddev: float = 0.1,
        noise_shift: float = 0.0,
        noise_scale: float = 1.0,
        bn_momentum: float = 0.9,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden_units = tuple(hidden_units)
        if not hidden_units:
            raise ValueError(f"hidden_units must name at least one layer, got {hidden_units!r}")
        for width in hidden_units:
            _check_positive_int("hidden_units", width)
        _check_positive_int("num_classes", num_classes)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        _check_positive_float("init_stddev", init_stddev)
        noisy = noise_shift != 0 or noise_scale != 1
        if noisy and not batch_norm:
            raise ValueError(
                f"noise (noise_shift={noise_shift!r}, noise_scale={noise_scale!r}) is injected "
                "after BN layers and needs batch_norm=True"
            )
        self.activation_name = activation
        self.batch_norm = bool(batch_norm)
        self.noisy = noisy
        self.activation = keras.activations.get(activation)
        self.dense_layers = []
        self.bn_layers = []
        self.noise_layers = []
        for i, width in enumerate(hidden_units):
            init = keras.initializers.RandomNormal(stddev=init_stddev, seed=seed * 1000 + i)
            self.dense_layers.append(
                keras.layers.Dense(width, use_bias=not batch_norm, kernel_initializer=init)
            )
            if batch_norm:
                self.bn_layers.append(keras.layers.BatchNormalization(momentum=bn_momentum))
            if noisy:
                self.noise_layers.append(
                    RandomAffineNoise(noise_shift, noise_scale, seed=seed * 1000 + 500 + i)
                )
        out_init = keras.initializers.RandomNormal(stddev=init_stddev, seed=seed * 1000 + 999)
        self.output_layer = keras.layers.Dense(num_classes, kernel_initializer=out_init)

    def forward(self, inputs, training=False):
        """Return ``(logits, preactivations, hidden)``, the last two one tensor per layer.

        ``preactivations[i]`` is the input of layer ``i``'s activation (after BN and
        noise), ``hidden[i]`` its output.
        """
        h = inputs
        pre, hidden = [], []
        for i, dense in enumerate(self.dense_layers):
            z = dense(h)
            if self.batch_norm:
                z = self.bn_layers[i](z, training=training)
            if self.noisy:
                z = self.noise_layers[i](z, training=training)
            h = self.activation(z)
            pre.append(z)
            hidden.append(h)
        return self.output_layer(h), pre, hidden

    def call(self, inputs, training=False):
        return self.forward(inputs, training=training)[0]

    @property
    def kernels(self) -> list:
        """The weight matrices of every ``Dense`` layer, input side first."""
        return [d.kernel for d in self.dense_layers] + [self.output_layer.kernel]


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of integer ``labels`` ``(N,)`` given ``logits`` ``(N, C)``."""
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=logits
        )
    )


def batch_indices(num_examples: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """Indices of ``steps`` mini-batches, shape ``(steps, batch_size)``.

    Each epoch visits every example once in a fresh random order (the last incomplete
    batch of an epoch is dropped).
    """
    _check_positive_int("num_examples", num_examples)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("steps", steps)
    if batch_size > num_examples:
        raise ValueError(f"batch_size must be <= {num_examples} examples, got {batch_size}")
    rng = np.random.default_rng(seed)
    per_epoch = num_examples // batch_size
    epochs = -(-steps // per_epoch)
    rows = [
        rng.permutation(num_examples)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
        for _ in range(epochs)
    ]
    return np.concatenate(rows)[:steps]


def _sgd_step(model: MLP, learning_rate: float):
    """A compiled step of plain SGD on one batch; returns the batch loss."""
    lr = tf.constant(learning_rate, tf.float32)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(model(x, training=True), y)
        grads = tape.gradient(loss, model.trainable_variables)
        for var, grad in zip(model.trainable_variables, grads, strict=True):
            var.assign_sub(lr * grad)
        return loss

    return step


def _sgd_steps(model: MLP, learning_rate: float):
    """A compiled loop of SGD steps over the batches ``x[order[k]]``, ``k = 0, 1, ...``.

    One call runs many steps inside one graph, which is several times faster on a
    CPU than calling a compiled step from Python for every batch.
    """
    step = _sgd_step(model, learning_rate)

    @tf.function
    def run(x, y, order):
        for k in tf.range(tf.shape(order)[0]):
            step(tf.gather(x, order[k]), tf.gather(y, order[k]))

    return run


def _check_training_args(split, steps, learning_rate, batch_size, record_every):
    if not isinstance(split, Split):
        raise ValueError(f"split must be a companion.data.Split, got {type(split).__name__}")
    _check_positive_int("steps", steps)
    _check_positive_float("learning_rate", learning_rate)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("record_every", record_every)
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps={steps}, got {record_every}")


class TrainingRecord(NamedTuple):
    """What :func:`train_classifier` records, one row per recorded step.

    Attributes:
        steps: ``(T,)`` training steps taken when recorded (the first is 0).
        test_accuracy: ``(T,)`` accuracy on the test split.
        test_loss: ``(T,)`` mean cross-entropy on the test split.
        percentiles: ``(T, 3)`` the 15th, 50th and 85th percentiles, over the test
            examples, of the input to one activation of the last hidden layer (in
            training mode, the whole test split as one batch).
    """

    steps: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    percentiles: np.ndarray


def train_classifier(
    model: MLP,
    split: Split,
    *,
    steps: int,
    learning_rate: float,
    batch_size: int = 60,
    record_every: int = 50,
    unit: int = 0,
    seed: int = 0,
) -> TrainingRecord:
    """Train ``model`` with mini-batch SGD and record it every ``record_every`` steps.

    Test accuracy and loss use inference mode (BN's moving averages, no noise). The
    percentiles describe the unit's input in training mode, computed on the whole test
    split as one batch: BN normalizes it with that batch's mean and variance (not with
    the moving averages), and noise, if any, is injected as in a training step. One
    large batch keeps the percentiles free of the sampling noise of a ``batch_size``
    batch. BN's moving averages and the noise generator's state are restored afterwards.

    Args:
        model: The network to train (changed in place).
        split: Train and test data; features ``(N, D)``, labels ``(N,)``.
        steps: Number of SGD steps.
        learning_rate: SGD step size.
        batch_size: Examples per step (the paper uses 60).
        record_every: Steps between two records.
        unit: Which unit of the last hidden layer to watch.
        seed: Seed of the order of the mini-batches.

    Returns:
        A :class:`TrainingRecord` with ``steps // record_every + 1`` rows.
    """
    _check_training_args(split, steps, learning_rate, batch_size, record_every)
    width = model.dense_layers[-1].units
    if isinstance(unit, bool) or not isinstance(unit, int | np.integer) or not 0 <= unit < width:
        raise ValueError(f"unit must be an int in [0, {width}), got {unit!r}")
    x_train = tf.constant(split.x_train, tf.float32)
    y_train = tf.constant(split.y_train)
    x_test = tf.constant(split.x_test, tf.float32)
    y_test = tf.constant(split.y_test)
    run = _sgd_steps(model, learning_rate)
    model(x_test[:2])  # build, so that the variables exist before tracing
    state = model.non_trainable_variables

    @tf.function
    def measure():
        logits = model(x_test, training=False)
        correct = tf.equal(tf.argmax(logits, axis=1), tf.cast(y_test, tf.int64))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        saved = [tf.identity(v) for v in state]
        _, pre, _ = model.forward(x_test, training=True)
        for v, s in zip(state, saved, strict=True):
            v.assign(s)
        return accuracy, cross_entropy(logits, y_test), pre[-1][:, unit]

    order = batch_indices(len(split.y_train), batch_size, steps, seed)
    rows = []
    for start in range(0, steps + 1, record_every):
        acc, loss, z = measure()
        rows.append((start, float(acc), float(loss), np.percentile(z.numpy(), PERCENTILES)))
        chunk = order[start : start + record_every]
        if len(chunk) and start < steps:
            run(x_train, y_train, tf.constant(chunk))
    return TrainingRecord(
        steps=np.array([r[0] for r in rows]),
        test_accuracy=np.array([r[1] for r in rows]),
        test_loss=np.array([r[2] for r in rows]),
        percentiles=np.array([r[3] for r in rows]),
    )


def steps_to_accuracy(record: TrainingRecord, target: float) -> int | None:
    """The first recorded step at which test accuracy is at least ``target``, else None."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
    hits = np.flatnonzero(record.test_accuracy >= target)
    return int(record.steps[hits[0]]) if hits.size else None


def _median_and_width(percentiles: np.ndarray) -> tuple[np.ndarray, float]:
    """The medians ``(T,)`` and the mean 15-85 width of ``(T, 3)`` percentiles."""
    p = np.asarray(percentiles, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] < 2:
        raise ValueError(f"percentiles must have shape (T >= 2, 3), got {p.shape}")
    width = np.mean(p[:, 2] - p[:, 0])
    if not width > 0:
        raise ValueError(f"percentiles must have p85 > p15 on average, got width {width}")
    return p[:, 1], float(width)


def percentile_drift(percentiles: np.ndarray) -> float:
    """How far the median wanders over training, in units of the distribution's width.

    ``(max_t m_t - min_t m_t) / mean_t (p85_t - p15_t)`` where ``m_t`` is the median
    and ``p15_t``, ``p85_t`` the 15th and 85th percentiles recorded at time ``t``.
    A distribution that keeps its place scores near 0; one whose centre travels
    several times its own width scores several units.

    Args:
        percentiles: ``(T, 3)`` as in :attr:`TrainingRecord.percentiles`.
    """
    median, width = _median_and_width(percentiles)
    return float((median.max() - median.min()) / width)


def median_spread(percentiles: np.ndarray) -> float:
    """The standard deviation of the median over training, in units of the width.

    ``std_t(m_t) / mean_t (p85_t - p15_t)``, with the notation of
    :func:`percentile_drift`. Unlike the drift, which only looks at the two most
    extreme records, it weighs every record: it is small when the median stays put
    and grows both with slow wandering and with jumps from record to record.

    Args:
        percentiles: ``(T, 3)`` as in :attr:`TrainingRecord.percentiles`.
    """
    median, width = _median_and_width(percentiles)
    return float(np.std(median) / width)


def median_jump(percentiles: np.ndarray) -> float:
    """How far the median moves from one record to the next, in units of the width.

    ``mean_t |m_t - m_{t-1}| / mean_t (p85_t - p15_t)``, with the notation of
    :func:`percentile_drift`: the typical jump between two consecutive records,
    whether or not the jumps add up to a drift.

    Args:
        percentiles: ``(T, 3)`` as in :attr:`TrainingRecord.percentiles`.
    """
    median, width = _median_and_width(percentiles)
    return float(np.mean(np.abs(np.diff(median))) / width)


class GradientNorms(NamedTuple):
    """Per-layer gradient norms of one batch, input side first.

    Attributes:
        kernels: ``(L,)`` Frobenius norm of the loss gradient with respect to each
            ``Dense`` kernel (``L`` = hidden layers + output layer).
        activations: ``(L - 1,)`` norm of the gradient with respect to each hidden
            layer's output, averaged over the examples: the signal that
            backpropagation passes down to the layers below.
    """

    kernels: np.ndarray
    activations: np.ndarray


def gradient_norms(
    model: MLP, x: np.ndarray, y: np.ndarray, *, training: bool = True
) -> GradientNorms:
    """Per-layer gradient norms of the cross-entropy of ``model`` on one batch.

    Args:
        model: The network (not changed; BN runs on batch statistics when ``training``,
            and its moving averages are restored afterwards).
        x: ``(N, D)`` features.
        y: ``(N,)`` integer labels.
        training: Whether BN uses batch statistics, as during a training step.

    Returns:
        A :class:`GradientNorms`.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
        raise ValueError(f"x must be (N >= 2, D) and y (N,), got {x.shape} and {y.shape}")
    model(x[:2])  # build, so that the moving averages exist and can be restored
    saved = [v.numpy() for v in model.non_trainable_variables]
    with tf.GradientTape() as tape:
        logits, _, hidden = model.forward(x, training=training)
        loss = cross_entropy(logits, y)
    grads = tape.gradient(loss, model.kernels + hidden)
    for var, value in zip(model.non_trainable_variables, saved, strict=True):
        var.assign(value)
    n_kernels = len(model.kernels)
    kernels = np.array([float(tf.norm(g)) for g in grads[:n_kernels]])
    acts = np.array([float(tf.reduce_mean(tf.norm(g, axis=1))) for g in grads[n_kernels:]])
    return GradientNorms(kernels=kernels, activations=acts)


class LandscapeRecord(NamedTuple):
    """What :func:`train_with_landscape` records, one row per measured step.

    Attributes:
        steps: ``(T,)`` the training step at which each measurement was taken.
        train_loss: ``(T,)`` loss on the measured batch.
        loss_range: ``(T,)`` ``max_eta L(w - eta g) - min_eta L(w - eta g)`` over the
            step sizes, on the same batch: how much the loss varies along the gradient.
        gradient_change: ``(T,)`` ``max_eta ||g(w) - g(w - eta g)||``: how much the
            gradient itself changes along it (small = "predictive" gradients).
    """

    steps: np.ndarray
    train_loss: np.ndarray
    loss_range: np.ndarray
    gradient_change: np.ndarray


def train_with_landscape(
    model: MLP,
    split: Split,
    *,
    steps: int,
    learning_rate: float,
    step_sizes: Sequence[float],
    batch_size: int = 60,
    record_every: int = 50,
    seed: int = 0,
) -> LandscapeRecord:
    """Train with SGD and probe the loss along the gradient every ``record_every`` steps.

    At a probed step with weights ``w`` and batch gradient ``g``, the loss and the
    gradient are evaluated at ``w - eta * g`` for every ``eta`` in ``step_sizes`` (same
    batch, BN in training mode as in a real step), then the weights and BN's moving
    averages are restored and the ordinary SGD step is taken.

    Args:
        model: The network to train (changed in place).
        split: Train data (the test part is unused).
        steps: Number of SGD steps.
        learning_rate: SGD step size.
        step_sizes: The step sizes ``eta`` to probe (at least two, positive).
        batch_size: Examples per step.
        record_every: Steps between two probes.
        seed: Seed of the order of the mini-batches.

    Returns:
        A :class:`LandscapeRecord` with ``ceil(steps / record_every)`` rows.
    """
    _check_training_args(split, steps, learning_rate, batch_size, record_every)
    etas = np.asarray(step_sizes, dtype=np.float32)
    if etas.ndim != 1 or etas.size < 2 or not np.all(etas > 0):
        raise ValueError(f"step_sizes must be at least two positive numbers, got {step_sizes!r}")
    x_train = tf.constant(split.x_train, tf.float32)
    y_train = tf.constant(split.y_train)
    model(x_train[:2])  # build, so that the variables exist before tracing
    params = model.trainable_variables
    state = model.non_trainable_variables

    run = _sgd_steps(model, learning_rate)
    etas = tf.constant(etas)

    def loss_and_grads(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(model(x, training=True), y)
        return loss, tape.gradient(loss, params)

    @tf.function
    def probe(x, y):
        weights = [tf.identity(v) for v in params]
        saved_state = [tf.identity(v) for v in state]
        loss0, g0 = loss_and_grads(x, y)
        losses = tf.TensorArray(tf.float32, size=etas.shape[0])
        changes = tf.TensorArray(tf.float32, size=etas.shape[0])
        for k in tf.range(etas.shape[0]):
            for v, w, g in zip(params, weights, g0, strict=True):
                v.assign(w - etas[k] * g)
            loss, g = loss_and_grads(x, y)
            losses = losses.write(k, loss)
            diff = [a - b for a, b in zip(g, g0, strict=True)]
            changes = changes.write(k, tf.linalg.global_norm(diff))
            for v, value in zip(state, saved_state, strict=True):
                v.assign(value)  # a probe must not move BN's moving averages
        for v, w in zip(params, weights, strict=True):
            v.assign(w)
        losses = losses.stack()
        return loss0, tf.reduce_max(losses) - tf.reduce_min(losses), tf.reduce_max(changes.stack())

    order = batch_indices(len(split.y_train), batch_size, steps, seed)
    rows = []
    for start in range(0, steps, record_every):
        idx = order[start]
        values = probe(tf.gather(x_train, idx), tf.gather(y_train, idx))
        rows.append((start, *(float(v) for v in values)))
        run(x_train, y_train, tf.constant(order[start : start + record_every]))
    cols = np.array(rows)
    return LandscapeRecord(
        steps=cols[:, 0].astype(int),
        train_loss=cols[:, 1],
        loss_range=cols[:, 2],
        gradient_change=cols[:, 3],
    )


def _two_samples(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 10:
        raise ValueError(f"a and b need at least 10 rows each, got {len(a)} and {len(b)}")
    return a, b


class DomainTest(NamedTuple):
    """Out-of-fold scores of a classifier that tries to tell sample ``a`` from ``b``.

    Attributes:
        auc: ROC AUC; 0.5 when the two samples are indistinguishable, 1.0 when
            every example can be assigned to its sample.
        mcc: Matthews correlation coefficient of its hard predictions; about 0 when
            indistinguishable, 1.0 when perfectly separated.
    """

    auc: float
    mcc: float


def domain_classifier_test(
    a: np.ndarray, b: np.ndarray, *, folds: int = 5, seed: int = 0
) -> DomainTest:
    """Detect a distribution shift between two samples with a domain classifier.

    A logistic regression learns to predict whether a row comes from ``a`` or ``b``;
    it is scored on rows it did not see (``folds``-fold cross-validation). If the two
    samples come from the same distribution, no classifier can beat chance.

    Args:
        a: ``(N, D)`` e.g. training inputs.
        b: ``(M, D)`` e.g. test inputs.
        folds: Number of cross-validation folds (at least 2).
        seed: Seed of the fold assignment.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import matthews_corrcoef, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    a, b = _two_samples(a, b)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    x = np.concatenate([a, b])
    domain = np.concatenate([np.zeros(len(a), int), np.ones(len(b), int)])
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(
        LogisticRegression(max_iter=1000), x, domain, cv=cv, method="predict_proba"
    )[:, 1]
    # Threshold at the base rate so that unequal sample sizes do not bias the MCC.
    predicted = proba > len(b) / len(x)
    return DomainTest(
        auc=float(roc_auc_score(domain, proba)),
        mcc=float(matthews_corrcoef(domain, predicted)),
    )


def ks_test(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of "no feature's distribution differs" from per-feature KS tests.

    A two-sample Kolmogorov-Smirnov test per feature (column), combined with the
    Bonferroni correction: ``min(1, D * min_j p_j)``. Features that are constant in
    both samples are skipped. Rabanser et al. (2019) found this simple test to be a
    strong detector of dataset shift.
    """
    from scipy.stats import ks_2samp

    a, b = _two_samples(a, b)
    varying = (a.std(axis=0) > 0) | (b.std(axis=0) > 0) | (a.mean(axis=0) != b.mean(axis=0))
    if not varying.any():
        return 1.0
    p = ks_2samp(a[:, varying], b[:, varying], axis=0).pvalue
    return float(min(1.0, np.min(p) * varying.sum()))
