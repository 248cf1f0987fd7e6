"""Batch Normalization as a Keras layer, written from primitive ops.

``ScratchBatchNormalization`` is a drop-in replacement for ``keras.layers.BatchNormalization``:
same arguments (Batch Renormalization and synchronized statistics included), same weights in
the same order, same training/inference behaviour, same mixed-precision handling, and configs
that load into either layer. It is built only from sums, means, squares, a
reciprocal square root and, for ``synchronized=True``, ``tf.distribute``'s all-reduce, so that
every step of the algorithm is visible. The arithmetic lives in three pure functions,
``batch_statistics``, ``renorm_correction`` and ``batch_normalize``; the layer only holds the
weights and updates the moving averages.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import keras
from keras import constraints, initializers, ops, regularizers

from companion.compat import builtin_bn_accepts

RENORM_CLIPPING_KEYS = ("rmax", "rmin", "dmax")


def batch_statistics(x, axes: Sequence[int], mask=None, all_reduce: Callable | None = None):
    """Per-feature mean and biased variance of a batch.

    The variance is the mean of squared deviations from the mean (two passes), not
    ``E[x**2] - E[x]**2``: the textbook one-pass formula subtracts two large, nearly equal
    numbers and loses every significant digit when the data sit far from zero compared
    with their spread (float32 values ``1000 ± 0.1``).

    With `all_reduce`, the batch is split across replicas (devices or machines) and the
    statistics are those of the global batch: each pass sums locally and then adds the
    sums of all replicas, first the sums and counts, then the squared deviations from the
    global mean. Two rounds of communication keep the two-pass accuracy.

    Args:
        x: Input tensor, e.g. `(N, D)`, `(N, H, W, C)` or `(N, C, H, W)`.
        axes: The axes to reduce over (every axis except the feature axis).
        mask: Optional boolean tensor with one dimension less than `x` (its last axis
            is missing); only positions where it is `True` enter the statistics.
        all_reduce: Optional function that returns the elementwise sum of a tensor over
            all replicas (e.g. ``tf.distribute``'s replica context ``all_reduce`` with
            ``SUM``); `None` for the statistics of `x` alone.

    Returns:
        `(mean, variance)`, each of shape `(C,)` where `C` is the size of the axis that
        is not reduced.
    """
    if mask is None and all_reduce is None:
        mean = ops.mean(x, axis=axes, keepdims=True)
        # The gradient that reaches `mean` through the variance is exactly zero
        # (deviations from the mean sum to zero), so stop_gradient skips computing it.
        variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=axes)
        return ops.squeeze(mean, axis=axes), variance

    if mask is None:
        weights = None
        total = ops.sum(x, axis=axes, keepdims=True)
        count = ops.cast(math.prod(ops.shape(x)[a] for a in axes), x.dtype)
        count = ops.broadcast_to(count, ops.shape(total))
    else:
        weights = ops.broadcast_to(ops.expand_dims(ops.cast(mask, "bool"), axis=-1), ops.shape(x))
        total = ops.sum(ops.where(weights, x, 0), axis=axes, keepdims=True)
        count = ops.sum(ops.cast(weights, x.dtype), axis=axes, keepdims=True)
    if all_reduce is not None:
        summed = all_reduce(ops.stack([total, count]))  # one round for both
        total, count = summed[0], summed[1]
    if mask is not None:
        # The small constant matches Keras and keeps an all-masked feature finite.
        count = count + keras.config.epsilon()
    mean = total / count

    # Unmasked, the deviations from the global mean sum to zero over all replicas, so
    # (as above) no gradient flows to `mean` through the variance.
    deviation = x - (ops.stop_gradient(mean) if mask is None else mean)
    if weights is not None:
        deviation = ops.where(weights, deviation, 0)
    squared = ops.sum(ops.square(deviation), axis=axes, keepdims=True)
    if all_reduce is not None:
        squared = all_reduce(squared)
    variance = squared / count
    return ops.squeeze(mean, axis=axes), ops.squeeze(variance, axis=axes)


def renorm_correction(
    mean, variance, renorm_mean, renorm_stddev, epsilon: float, clipping: Mapping | None = None
):
    """Batch Renormalization's correction `(r, d)` of the batch statistics.

    With `sigma = sqrt(variance + epsilon)`, ``r = sigma / renorm_stddev`` and
    ``d = (mean - renorm_mean) / renorm_stddev``, so that ``x_hat * r + d``, where
    `x_hat` is `x` normalized with the batch statistics, equals `x` normalized with the
    moving ones. Then `r` is clipped to `[rmin, rmax]` and `d` to `[-dmax, dmax]`, and
    both are treated as constants in backpropagation (stop-gradient).

    Args:
        mean: Per-feature batch mean, shape `(C,)`.
        variance: Per-feature batch variance, shape `(C,)`.
        renorm_mean: Moving mean used by renorm during training, shape `(C,)`.
        renorm_stddev: Moving standard deviation used by renorm during training, shape
            `(C,)`; values below `sqrt(epsilon)` are raised to it, which keeps `r` and
            `d` finite early in training.
        epsilon: Small positive float added to the variance.
        clipping: Optional mapping with any of the keys `"rmax"`, `"rmin"` and `"dmax"`;
            a missing (or `None`) key means no clipping on that side.

    Returns:
        `(r, d)`, each of shape `(C,)`, without gradient.
    """
    clipping = clipping or {}
    stddev = ops.sqrt(variance + epsilon)
    renorm_stddev = ops.maximum(renorm_stddev, math.sqrt(epsilon))
    r = stddev / renorm_stddev
    d = (mean - renorm_mean) / renorm_stddev
    if clipping.get("rmin") is not None:
        r = ops.maximum(r, clipping["rmin"])
    if clipping.get("rmax") is not None:
        r = ops.minimum(r, clipping["rmax"])
    if clipping.get("dmax") is not None:
        d = ops.clip(d, -clipping["dmax"], clipping["dmax"])
    return ops.stop_gradient(r), ops.stop_gradient(d)


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


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"Argument `{name}` must be in [0, 1]. Received: {name}={value!r}")
    return float(value)


def _check_renorm_clipping(renorm_clipping):
    """`None`, or a copy of the mapping after checking its keys and values."""
    if renorm_clipping is None:
        return None
    if not isinstance(renorm_clipping, Mapping):
        raise TypeError(
            "Argument `renorm_clipping` must be a dict with keys among "
            f"{list(RENORM_CLIPPING_KEYS)}. Received: renorm_clipping={renorm_clipping!r}"
        )
    clipping = dict(renorm_clipping)
    unknown = set(clipping) - set(RENORM_CLIPPING_KEYS)
    if unknown:
        raise ValueError(
            f"Received invalid keys for `renorm_clipping` argument: {sorted(unknown)}. "
            f"Supported keys: {list(RENORM_CLIPPING_KEYS)}. "
            f"Received: renorm_clipping={renorm_clipping!r}"
        )
    for key, value in clipping.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise TypeError(
                f"`renorm_clipping[{key!r}]` must be a number or None. "
                f"Received: renorm_clipping={renorm_clipping!r}"
            )
    rmax, rmin, dmax = (clipping.get(key) for key in RENORM_CLIPPING_KEYS)
    if rmax is not None and rmin is not None and rmax < rmin:
        raise ValueError(
            "rmax should be greater than rmin in the `renorm_clipping` argument. "
            f"Received: rmax={rmax}, rmin={rmin}"
        )
    if dmax is not None and dmax < 0:
        raise ValueError(
            f"dmax should be non-negative in the `renorm_clipping` argument. Received: dmax={dmax}"
        )
    return clipping


def _fresh(initializer):
    """A new initializer with the same configuration, as Keras does for renorm's weights.

    An unseeded random initializer then draws new values instead of sharing an instance.
    """
    if isinstance(initializer, initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer


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

    With `renorm=True` (Batch Renormalization), training mode corrects the batch
    statistics towards moving ones: the normalized batch `x_hat` becomes
    `x_hat * r + d`, with `r = sigma_batch / renorm_stddev` and
    `d = (mean - renorm_mean) / renorm_stddev` clipped by `renorm_clipping` and treated as
    constants in backpropagation (see `renorm_correction`). `renorm_mean` and
    `renorm_stddev` are moving averages with momentum `renorm_momentum`; the inference
    statistics are tracked as `moving_mean` and `moving_stddev` with momentum `momentum`,
    and `moving_variance = max(moving_stddev**2 - epsilon, 0)`. Inference is the same as
    without renorm.

    With `synchronized=True`, inside a `tf.distribute` strategy with more than one
    replica (`MirroredStrategy`, `MultiWorkerMirroredStrategy`), the batch statistics are
    those of the global batch, summed over replicas with an all-reduce, so every replica
    normalizes and updates its moving statistics alike. Unlike the built-in layer, which
    computes the synchronized variance as `E[x^2] - E[x]^2`, this layer keeps the two-pass
    variance, and it also synchronizes the statistics of masked inputs (the built-in layer
    uses each replica's own statistics when a mask is given).

    The weights are created with the names and in the order of
    `keras.layers.BatchNormalization` (`gamma`, `beta`, `moving_mean`, `moving_variance`,
    then with renorm `moving_stddev`, `renorm_mean`, `renorm_stddev`; `gamma` is absent
    when `scale=False`, `beta` when `center=False`), so
    `layer.set_weights(builtin.get_weights())` works in both directions. Configs load both
    ways too: `ScratchBatchNormalization.from_config(builtin.get_config())` and
    `keras.layers.BatchNormalization.from_config(layer.get_config())`. (With Keras before
    3.14, whose layer has no renorm, the config leaves out the renorm keys when
    `renorm=False`.)

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
        moving_mean_initializer: Initializer for the moving mean (and, with renorm, for
            `renorm_mean`).
        moving_variance_initializer: Initializer for the moving variance (with renorm,
            `moving_stddev` and `renorm_stddev` start at its square root).
        beta_regularizer: Optional regularizer for `beta`.
        gamma_regularizer: Optional regularizer for `gamma`.
        beta_constraint: Optional constraint for `beta`.
        gamma_constraint: Optional constraint for `gamma`.
        synchronized: If `True`, use the statistics of the global batch across all
            replicas of a `tf.distribute` strategy in training mode (TensorFlow backend
            only). Outside a strategy, or with one replica, it changes nothing.
        renorm: If `True`, use Batch Renormalization in training mode; adds the weights
            `moving_stddev`, `renorm_mean` and `renorm_stddev`.
        renorm_clipping: Optional dict with any of the keys `"rmax"`, `"rmin"` and
            `"dmax"`: `r` is clipped to `[rmin, rmax]` and `d` to `[-dmax, dmax]`; a
            missing key means no limit on that side (`rmax=inf`, `rmin=0`, `dmax=inf`).
            Used only with `renorm=True`.
        renorm_momentum: Momentum, in `[0, 1]`, of `renorm_mean` and `renorm_stddev`.
            Unlike `momentum` it affects training: too small adds noise, too large gives
            stale estimates. Used only with `renorm=True`.
        **kwargs: Base layer keyword arguments (e.g. `name` and `dtype`).

    Call arguments:
        inputs: Input tensor of any rank, e.g. `(N, D)`, `(N, H, W, C)` or `(N, C, H, W)`.
        training: Python boolean. `True` normalizes with the statistics of the batch and
            updates the moving statistics; `False` normalizes with the moving statistics.
        mask: Optional boolean tensor with one dimension less than `inputs`; masked
            positions do not enter the batch statistics.

    Reference:

    - [Ioffe and Szegedy, 2015](https://arxiv.org/abs/1502.03167).
    - [Ioffe, 2017](https://arxiv.org/abs/1702.03275) (Batch Renormalization).
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
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not epsilon > 0.0:
            raise ValueError(f"Argument `epsilon` must be positive. Received: epsilon={epsilon}")
        if synchronized and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "Argument `synchronized=True` needs the TensorFlow backend. Received: "
                f"synchronized={synchronized!r} with backend {keras.backend.backend()!r}"
            )
        self.axis = int(axis)
        self.momentum = _check_fraction("momentum", momentum)
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
        self.synchronized = bool(synchronized)
        self.renorm = bool(renorm)
        clipping = _check_renorm_clipping(renorm_clipping)
        # Stored as Keras stores it: {} for renorm without clipping.
        self.renorm_clipping = {} if self.renorm and clipping is None else clipping
        self.renorm_momentum = _check_fraction("renorm_momentum", renorm_momentum)
        self.supports_masking = True

        self.gamma = None
        self.beta = None
        self.moving_mean = None
        self.moving_variance = None
        self.moving_stddev = None
        self.renorm_mean = None
        self.renorm_stddev = None
        self._reduction_axes = None
        self._broadcast_shape = None

    def build(self, input_shape):
        rank = len(input_shape)
        self._check_axis(input_shape)
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
        self.moving_mean = self._add_statistic("moving_mean", shape, self.moving_mean_initializer)
        self.moving_variance = self._add_statistic(
            "moving_variance", shape, self.moving_variance_initializer
        )
        if self.renorm:

            def stddev_initializer(shape, dtype=None):
                return ops.sqrt(_fresh(self.moving_variance_initializer)(shape, dtype=dtype))

            # Inference statistics are tracked as a standard deviation, as in the paper;
            # renorm's own training statistics follow with their own momentum.
            self.moving_stddev = self._add_statistic("moving_stddev", shape, stddev_initializer)
            self.renorm_mean = self._add_statistic(
                "renorm_mean", shape, _fresh(self.moving_mean_initializer)
            )
            self.renorm_stddev = self._add_statistic("renorm_stddev", shape, stddev_initializer)

        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self.axis: shape[0]})
        self._reduction_axes = [i for i in range(rank) if i != axis]
        # (C,) vectors broadcast against the last axis as they are; any other axis
        # needs them reshaped to e.g. (1, C, 1, 1), a shape fixed once here.
        if axis != rank - 1:
            self._broadcast_shape = tuple(shape[0] if i == axis else 1 for i in range(rank))

    def _add_statistic(self, name, shape, initializer):
        return self.add_weight(
            shape=shape, name=name, initializer=initializer, trainable=False, autocast=False
        )

    def _check_axis(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}. "
                f"Received: axis={self.axis}"
            )

    def compute_output_shape(self, input_shape):
        self._check_axis(input_shape)
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
            mean, variance = batch_statistics(
                inputs, self._reduction_axes, mask, self._replica_sum()
            )
            if self.renorm:
                r, d = self._renorm_correction(mean, variance)
                # (x_hat * r + d) * gamma + beta = x_hat * (r * gamma) + (d * gamma + beta)
                shift = d if gamma is None else d * gamma
                beta = shift if beta is None else shift + beta
                gamma = r if gamma is None else r * gamma
                self._update_renorm_statistics(mean, variance)
            else:
                self._update_moving_statistics(mean, variance)
        else:
            mean = ops.cast(self.moving_mean, dtype)
            variance = ops.cast(self.moving_variance, dtype)

        outputs = batch_normalize(
            inputs, mean, variance, gamma, beta, self.epsilon, self._broadcast_shape
        )
        return ops.cast(outputs, self.compute_dtype)

    def _replica_sum(self):
        """The sum over replicas for synchronized statistics, or `None` when not needed."""
        if not self.synchronized:
            return None
        import tensorflow as tf  # synchronized=True implies the TensorFlow backend

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return None
        return lambda tensor: context.all_reduce(tf.distribute.ReduceOp.SUM, tensor)

    def _renorm_correction(self, mean, variance):
        return renorm_correction(
            mean,
            variance,
            ops.cast(self.renorm_mean, mean.dtype),
            ops.cast(self.renorm_stddev, mean.dtype),
            self.epsilon,
            self.renorm_clipping,
        )

    def _update_moving_statistics(self, mean, variance):
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            self._update_average(moving, batch, self.momentum)

    def _update_renorm_statistics(self, mean, variance):
        stddev = ops.sqrt(variance + self.epsilon)
        self._update_average(self.renorm_mean, mean, self.renorm_momentum)
        self._update_average(self.renorm_stddev, stddev, self.renorm_momentum)
        self._update_average(self.moving_mean, mean, self.momentum)
        moving_stddev = self._update_average(self.moving_stddev, stddev, self.momentum)
        # The variance follows from the standard deviation; rounding could make it < 0.
        self.moving_variance.assign(ops.maximum(ops.square(moving_stddev) - self.epsilon, 0.0))

    @staticmethod
    def _update_average(moving, batch, momentum):
        batch = ops.cast(batch, moving.dtype)
        value = moving * momentum + batch * (1.0 - momentum)
        moving.assign(value)
        return value

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
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }
        if not self.renorm and not builtin_bn_accepts("renorm"):
            # Keras before 3.14 has no renorm: without these keys, its built-in layer
            # loads this config too.
            for key in ("renorm", "renorm_clipping", "renorm_momentum"):
                del config[key]
        return {**base_config, **config}
