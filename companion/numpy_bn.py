"""Batch Normalization from scratch in NumPy: forward, two backward passes, inference, a layer.

One convention throughout (Keras's): ``axis`` is the feature (channel) axis that keeps its own
statistics; mean and variance are taken over every other axis. So ``(N, D)`` and
``(N, H, W, C)`` use the default ``axis=-1`` and ``(N, C, H, W)`` uses ``axis=1``. Per-feature
arrays (``gamma``, ``beta``, moving statistics, batch statistics) have shape ``(C,)``.

The arithmetic lives in pure functions that never modify their arguments;
:class:`BatchNorm` is a thin stateful wrapper that holds parameters and moving statistics.

Precision: float16 and float32 inputs are computed in float32, float64 in float64, and every
output has the input's dtype. Batch statistics are accumulated in float64 and the variance
is the two-pass ``mean((x - mean)**2)``, never the textbook ``E[x**2] - E[x]**2``
(see :func:`naive_variance` for why).

Reference:
    Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", ICML 2015. https://arxiv.org/abs/1502.03167
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = [
    "BatchNorm",
    "BatchNormCache",
    "batch_moments",
    "batch_norm_backward",
    "batch_norm_backward_graph",
    "batch_norm_forward",
    "batch_norm_inference",
    "naive_variance",
]


class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_forward` keeps for the backward pass.

    Arrays marked "like x" have the shape of ``x`` and the compute dtype (float32 for
    float16/float32 inputs, float64 for float64); per-feature arrays have shape ``(C,)``.
    """

    x_hat: np.ndarray  # normalized input (x - mean) * inv_std, like x
    x_centred: np.ndarray  # x - mean, like x; the graph backward walks through it
    inv_std: np.ndarray  # 1 / sqrt(var + epsilon), (C,), compute dtype
    gamma: np.ndarray  # scale used in the forward pass, (C,), compute dtype
    mean: np.ndarray  # batch mean, (C,), float64: feeds the moving mean
    var: np.ndarray  # biased batch variance, (C,), float64: feeds the moving variance
    count: int  # m, the number of values each feature's statistics are taken over
    axis: int  # the feature axis, non-negative
    reduce_axes: tuple[int, ...]  # every axis except ``axis``
    epsilon: float
    x_dtype: np.dtype  # dtype of the input, and so of dx


# ---------------------------------------------------------------------------------------------
# Validation and bookkeeping
# ---------------------------------------------------------------------------------------------


def _as_float_array(value, name: str, *, keep_subclass: bool = False) -> np.ndarray:
    """``np.asarray`` that refuses ints, bools, strings and objects with a clear message.

    With ``keep_subclass`` an ndarray subclass passes through unchanged (``np.asanyarray``),
    so that an instrumented array such as :func:`companion.opcount.count_array_passes` uses
    sees every operation; ``np.matrix``, whose ``*`` is a matrix product, is still converted.
    """
    array = np.asanyarray(value) if keep_subclass else np.asarray(value)
    if isinstance(array, np.matrix):
        array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}")
    return array


def _feature_axis(axis: int, shape: tuple[int, ...]) -> int:
    """Checks ``axis`` against ``shape`` and returns it as a non-negative index."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}: {axis!r}")
    ndim = len(shape)
    # A lone (D,) vector has no batch axis to average over: ask for (1, D) explicitly.
    if ndim < 2:
        raise ValueError(
            f"x must have at least 2 dimensions (a batch axis and the feature axis), "
            f"got shape {shape}"
        )
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for x of shape {shape} (ndim={ndim})")
    return int(axis) % ndim


def _check_epsilon(epsilon: float) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"epsilon must be a real number, got {type(epsilon).__name__}")
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a positive finite number, got epsilon={epsilon!r}")
    return float(epsilon)


def _check_input(x, axis: int) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """Validates ``x`` and ``axis``; returns x as an array, the axis and the reduced axes."""
    x = _as_float_array(x, "x")
    axis = _feature_axis(axis, x.shape)
    if x.size == 0:
        raise ValueError(f"x must not be empty (an empty batch has no statistics), got {x.shape}")
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    return x, axis, reduce_axes


def _check_per_feature(value, name: str, x_shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Checks that a per-feature array has shape ``(C,)`` with ``C = x.shape[axis]``."""
    array = _as_float_array(value, name)
    expected = (x_shape[axis],)
    if array.shape != expected:
        raise ValueError(
            f"{name} must have shape {expected} (x.shape[{axis}] for x of shape {x_shape}), "
            f"got {array.shape}"
        )
    return array


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # float16 has too little range and precision for statistics (as in Keras): use float32.
    return np.promote_types(dtype, np.float32)


def _per_feature(values: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """Reshapes a ``(C,)`` array so that it broadcasts along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def batch_moments(x: np.ndarray, *, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature batch mean and biased variance, computed the numerically stable way.

    The variance is the two-pass ``mean((x - mean)**2)`` with sums accumulated in float64,
    so float32 data with a large offset (say 1000 ± 0.1) keeps its digits.

    Args:
        x: Float array, e.g. ``(N, D)`` or ``(N, H, W, C)``.
        axis: The feature axis; statistics are taken over all other axes.

    Returns:
        ``(mean, var)``, each of shape ``(C,)`` and dtype float64. ``var`` divides by ``m``
        (biased), as Keras and the paper's training-time normalization do.
    """
    x, axis, reduce_axes = _check_input(x, axis)
    mean, var, _ = _moments(x, axis, reduce_axes)
    return mean, var


def _moments(
    x: np.ndarray, axis: int, reduce_axes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns float64 ``(C,)`` mean and variance, and ``x - mean`` in the compute dtype."""
    accumulate = np.promote_types(x.dtype, np.float64)
    mean = np.mean(x, axis=reduce_axes, dtype=accumulate)
    # Centre in float64: a float32 mean of x ~ 1000 would be off by up to 3e-5, a visible
    # shift once divided by a small standard deviation. Squaring the centred values (rather
    # than the large x) is what keeps the variance accurate.
    x_centred = x - _per_feature(mean, x.ndim, axis)
    var = np.mean(np.square(x_centred), axis=reduce_axes)
    return mean, var, x_centred.astype(_compute_dtype(x.dtype), copy=False)


def naive_variance(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """The textbook one-pass variance ``E[x**2] - E[x]**2``, in x's own dtype. Do not use it.

    It subtracts two large, nearly equal numbers, so it cancels catastrophically when the
    mean is large relative to the spread: in float32, ``E[x**2]`` for ``x ≈ 1000`` is about
    ``1e6``, whose rounding step (0.0625) dwarfs a variance of 0.01. The result can even be
    negative. It is here only so that tests and chapters can show the failure; compare
    :func:`batch_moments`.

    Args:
        x: Float array, e.g. ``(N, D)``.
        axis: The feature axis; statistics are taken over all other axes.

    Returns:
        Shape ``(C,)``, dtype of ``x``.
    """
    x, _, reduce_axes = _check_input(x, axis)
    mean_of_square = np.mean(x * x, axis=reduce_axes, dtype=x.dtype)
    square_of_mean = np.mean(x, axis=reduce_axes, dtype=x.dtype) ** 2
    return mean_of_square - square_of_mean


# ---------------------------------------------------------------------------------------------
# Forward, backward, inference
# ---------------------------------------------------------------------------------------------


def batch_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, BatchNormCache]:
    """Training-mode batch normalization: normalize with the batch's own statistics.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``, with ``mean`` and the biased
    ``var`` taken per feature over every axis except ``axis``.

    If each feature has a single value (``m = 1``, e.g. a ``(1, D)`` batch), the variance
    is 0, so ``x_hat = 0`` and the output is exactly ``beta``; the gradient with respect to
    ``x`` is then 0. This is allowed, not an error, but such a batch teaches the layer nothing
    about the input.

    Args:
        x: Float array of any rank >= 2, e.g. ``(N, D)``, ``(N, H, W, C)``, or
            ``(N, C, H, W)`` with ``axis=1``.
        gamma: Scale, shape ``(C,)`` with ``C = x.shape[axis]``.
        beta: Shift, shape ``(C,)``.
        axis: The feature axis (negative counts from the end).
        epsilon: Added to the variance before the square root; Keras's default 1e-3.

    Returns:
        ``(y, cache)``: ``y`` like ``x`` (same shape and dtype), and the
        :class:`BatchNormCache` that the backward functions need. ``cache.mean`` and
        ``cache.var`` are the batch statistics for updating moving averages.

    Raises:
        TypeError: If an array is not floating point, or ``axis`` is not an int.
        ValueError: If ``axis`` does not fit ``x``, ``x`` is empty, ``gamma``/``beta`` do not
            have shape ``(C,)``, or ``epsilon <= 0``.
    """
    x, axis, reduce_axes = _check_input(x, axis)
    gamma = _check_per_feature(gamma, "gamma", x.shape, axis)
    beta = _check_per_feature(beta, "beta", x.shape, axis)
    epsilon = _check_epsilon(epsilon)
    dtype = _compute_dtype(x.dtype)

    mean, var, x_centred = _moments(x, axis, reduce_axes)
    inv_std = 1.0 / np.sqrt(var.astype(dtype) + dtype.type(epsilon))
    x_hat = x_centred * _per_feature(inv_std, x.ndim, axis)
    gamma = gamma.astype(dtype)
    y = _per_feature(gamma, x.ndim, axis) * x_hat + _per_feature(beta.astype(dtype), x.ndim, axis)

    cache = BatchNormCache(
        x_hat=x_hat,
        x_centred=x_centred,
        inv_std=inv_std,
        gamma=gamma,
        mean=mean,
        var=var,
        count=x.size // x.shape[axis],
        axis=axis,
        reduce_axes=reduce_axes,
        epsilon=epsilon,
        x_dtype=x.dtype,
    )
    return y.astype(x.dtype, copy=False), cache


def _check_dy(dy, cache: BatchNormCache) -> np.ndarray:
    dy = _as_float_array(dy, "dy", keep_subclass=True)
    if dy.shape != cache.x_hat.shape:
        raise ValueError(
            f"dy must have the shape of the forward input x, {cache.x_hat.shape}, got {dy.shape}"
        )
    return dy.astype(cache.x_hat.dtype, copy=False)


def batch_norm_backward(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batch_norm_forward` in closed form.

    With ``m`` values per feature and sums over the reduced axes::

        dx_hat = dy * gamma
        dx     = inv_std / m * (m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))
               = gamma * inv_std / m * (m * dy - dbeta - x_hat * dgamma)

    The two sums are the gradient's paths through the batch mean and the batch variance;
    they equal ``gamma * dbeta`` and ``gamma * dgamma``, which the code reuses.

    Args:
        dy: Upstream gradient, the shape of the forward input ``x``.
        cache: From :func:`batch_norm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``x`` (same shape and dtype); ``dgamma`` and
        ``dbeta`` of shape ``(C,)`` in the compute dtype (float32, or float64 for float64 x).

    Raises:
        TypeError: If ``dy`` is not floating point.
        ValueError: If ``dy``'s shape differs from ``x``'s.
    """
    dy = _check_dy(dy, cache)
    x_hat, axes, m = cache.x_hat, cache.reduce_axes, cache.count
    accumulate = np.promote_types(dy.dtype, np.float64)

    def per_feature_sum(a: np.ndarray) -> np.ndarray:  # keeps dims so results broadcast
        return np.sum(a, axis=axes, dtype=accumulate, keepdims=True).astype(dy.dtype)

    def broadcast(v: np.ndarray) -> np.ndarray:
        return _per_feature(v, dy.ndim, cache.axis)

    dbeta = per_feature_sum(dy)
    dgamma = per_feature_sum(dy * x_hat)
    # sum(dx_hat) = gamma * dbeta and sum(dx_hat * x_hat) = gamma * dgamma, so the two
    # sums the formula needs are already computed: no further pass over the batch.
    scale = broadcast((cache.gamma * cache.inv_std / m).astype(dy.dtype, copy=False))
    dx = scale * (m * dy - dbeta - x_hat * dgamma)
    return dx.astype(cache.x_dtype, copy=False), dgamma.reshape(-1), dbeta.reshape(-1)


def batch_norm_backward_graph(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batch_norm_forward`, one computational-graph node at a time.

    The forward pass, written as a graph (sums and means per feature)::

        mu      = mean(x)              # 1. batch mean
        xc      = x - mu               # 2. centre
        sq      = xc ** 2              # 3. square
        var     = mean(sq)             # 4. batch variance
        var_eps = var + epsilon        # 5. add epsilon
        std     = sqrt(var_eps)        # 6. square root
        inv_std = 1 / std              # 7. reciprocal
        x_hat   = xc * inv_std         # 8. normalize
        y       = gamma * x_hat + beta # 9. scale and shift

    Walking it backwards, each line below multiplies the upstream gradient by one node's
    local derivative. Slower than :func:`batch_norm_backward`, same numbers; it exists to be
    read next to the derivation.

    Args:
        dy: Upstream gradient, the shape of the forward input ``x``.
        cache: From :func:`batch_norm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)`` as :func:`batch_norm_backward` returns them.
    """
    dy = _check_dy(dy, cache)
    axes, m = cache.reduce_axes, cache.count
    accumulate = np.promote_types(dy.dtype, np.float64)

    def per_feature_sum(a: np.ndarray) -> np.ndarray:  # keeps dims so results broadcast
        return np.sum(a, axis=axes, dtype=accumulate, keepdims=True).astype(dy.dtype)

    def broadcast(v: np.ndarray) -> np.ndarray:
        return _per_feature(v, dy.ndim, cache.axis)

    # Forward values each node needs, recovered from the cache.
    xc = cache.x_centred
    std = np.sqrt(broadcast(cache.var).astype(dy.dtype) + dy.dtype.type(cache.epsilon))
    inv_std = broadcast(cache.inv_std)
    x_hat = cache.x_hat
    gamma = broadcast(cache.gamma)

    # 9. y = gamma * x_hat + beta: beta and gamma were broadcast over the batch, so sum.
    dbeta = per_feature_sum(dy)
    dgamma = per_feature_sum(dy * x_hat)
    dx_hat = dy * gamma
    # 8. x_hat = xc * inv_std: a product, each factor's gradient is the other factor.
    dinv_std = per_feature_sum(dx_hat * xc)
    dxc = dx_hat * inv_std  # first of the two paths into xc
    # 7. inv_std = 1 / std: d(1/s)/ds = -1/s**2.
    dstd = -dinv_std / std**2
    # 6. std = sqrt(var_eps): d(sqrt(v))/dv = 1 / (2 sqrt(v)).
    dvar_eps = dstd / (2 * std)
    # 5. var_eps = var + epsilon: adding a constant passes the gradient through.
    dvar = dvar_eps
    # 4. var = mean(sq): each of the m squares contributes 1/m.
    dsq = np.broadcast_to(dvar / m, xc.shape)
    # 3. sq = xc ** 2: d(c**2)/dc = 2c. Second path into xc, so accumulate.
    dxc = dxc + 2 * xc * dsq
    # 2. xc = x - mu: +1 for x, -1 for mu (summed over the batch, where mu was broadcast).
    dx = dxc
    dmu = -per_feature_sum(dxc)
    # 1. mu = mean(x): each x contributes 1/m to the mean. Second path into x.
    dx = dx + np.broadcast_to(dmu / m, dx.shape)

    return dx.astype(cache.x_dtype, copy=False), dgamma.reshape(-1), dbeta.reshape(-1)


def batch_norm_inference(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    moving_mean: np.ndarray,
    moving_variance: np.ndarray,
    *,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> np.ndarray:
    """Inference-mode batch normalization: normalize with fixed (moving) statistics.

    ``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``. Each example
    is transformed independently of the rest of the batch, so a batch of one is fine.

    Args:
        x: Float array of rank >= 2, e.g. ``(N, D)`` or ``(N, H, W, C)``.
        gamma: Scale, shape ``(C,)``.
        beta: Shift, shape ``(C,)``.
        moving_mean: Shape ``(C,)``.
        moving_variance: Shape ``(C,)``, non-negative.
        axis: The feature axis.
        epsilon: Added to the variance before the square root.

    Returns:
        ``y`` like ``x`` (same shape and dtype).

    Raises:
        TypeError: If an array is not floating point.
        ValueError: On a bad ``axis``, empty ``x``, a per-feature array not of shape
            ``(C,)``, a negative ``moving_variance``, or ``epsilon <= 0``.
    """
    x, axis, _ = _check_input(x, axis)
    per_feature = {
        name: _check_per_feature(value, name, x.shape, axis).astype(_compute_dtype(x.dtype))
        for name, value in [
            ("gamma", gamma),
            ("beta", beta),
            ("moving_mean", moving_mean),
            ("moving_variance", moving_variance),
        ]
    }
    epsilon = _check_epsilon(epsilon)
    if np.any(per_feature["moving_variance"] < 0):
        raise ValueError(f"moving_variance must be >= 0, got {moving_variance}")

    def broadcast(name: str) -> np.ndarray:
        return _per_feature(per_feature[name], x.ndim, axis)

    scale = broadcast("gamma") / np.sqrt(broadcast("moving_variance") + epsilon)
    # Subtract the mean before scaling rather than folding it into the shift
    # (x * scale + (beta - mean * scale)): for x far from 0 the folded form cancels digits.
    x_centred = x.astype(scale.dtype) - broadcast("moving_mean")
    return (x_centred * scale + broadcast("beta")).astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# The stateful layer
# ---------------------------------------------------------------------------------------------


def _unbiased(var: np.ndarray, count: int) -> np.ndarray:
    """The paper's (and PyTorch's) unbiased variance ``var * m / (m - 1)``.

    With ``m = 1`` the correction is undefined (0/0); the biased value, 0, is returned so
    that the moving variance never becomes NaN or infinite.
    """
    return var * (count / (count - 1)) if count > 1 else var


class BatchNorm:
    """A stateful NumPy batch-normalization layer: parameters, moving statistics, a cache.

    The arithmetic is in :func:`batch_norm_forward`, :func:`batch_norm_backward` and
    :func:`batch_norm_inference`; this class only keeps state between calls. Parameters and
    moving statistics are float64 arrays of shape ``(num_features,)``. They are replaced,
    never modified in place, so arrays read from the layer earlier do not change later.

    Each training step updates the moving statistics the Keras way::

        moving = momentum * moving + (1 - momentum) * batch_stat

    with the biased batch variance (divided by m), as Keras 3 does. With
    ``unbiased_moving_variance=True`` the batch variance is first multiplied by m/(m - 1),
    as in the paper and PyTorch; for m = 1 that factor is undefined and the biased value
    (0) is used instead.

    Args:
        num_features: C, the size of the feature axis.
        axis: The feature axis of the inputs (Keras's meaning).
        momentum: Weight of the old moving value, in [0, 1]; 0 keeps only the last batch.
        epsilon: Added to the variance before the square root; must be > 0.
        unbiased_moving_variance: Store the unbiased batch variance in the moving average.

    Attributes:
        gamma, beta: Scale (ones) and shift (zeros).
        moving_mean, moving_variance: Zeros and ones at the start.
        dgamma, dbeta: Gradients set by :meth:`backward`; ``None`` before that.
    """

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        unbiased_moving_variance: bool = False,
    ) -> None:
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, numbers.Integral)
            or num_features < 1
        ):
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"axis must be an int, got {type(axis).__name__}: {axis!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
            raise TypeError(f"momentum must be a real number, got {type(momentum).__name__}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got momentum={momentum!r}")
        self.num_features = int(num_features)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = _check_epsilon(epsilon)
        self.unbiased_moving_variance = bool(unbiased_moving_variance)

        self.gamma = np.ones(self.num_features)
        self.beta = np.zeros(self.num_features)
        self.moving_mean = np.zeros(self.num_features)
        self.moving_variance = np.ones(self.num_features)
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None
        self._cache: BatchNormCache | None = None

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Normalizes ``x``; in training mode also updates the moving statistics.

        Args:
            x: Float array, e.g. ``(N, D)`` or ``(N, H, W, C)``, with
                ``x.shape[axis] == num_features``.
            training: True: batch statistics, update the moving averages, keep a cache for
                :meth:`backward`. False: moving statistics, nothing changes.

        Returns:
            ``y`` like ``x`` (same shape and dtype).
        """
        x = _as_float_array(x, "x")
        axis = _feature_axis(self.axis, x.shape)
        if x.shape[axis] != self.num_features:
            raise ValueError(
                f"x.shape[{self.axis}] must equal num_features={self.num_features}, "
                f"got x of shape {x.shape}"
            )
        if not training:
            self._cache = None  # backward() of an inference call would use stale statistics
            return batch_norm_inference(
                x,
                self.gamma,
                self.beta,
                self.moving_mean,
                self.moving_variance,
                axis=self.axis,
                epsilon=self.epsilon,
            )
        y, cache = batch_norm_forward(
            x, self.gamma, self.beta, axis=self.axis, epsilon=self.epsilon
        )
        batch_var = (
            _unbiased(cache.var, cache.count) if self.unbiased_moving_variance else cache.var
        )
        self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * cache.mean
        self.moving_variance = (
            self.momentum * self.moving_variance + (1 - self.momentum) * batch_var
        )
        self._cache = cache
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Gradient with respect to the last training-mode input; sets ``dgamma``, ``dbeta``.

        Args:
            dy: Upstream gradient, the shape of the last ``x`` given to
                ``forward(x, training=True)``.

        Returns:
            ``dx`` like that ``x``.

        Raises:
            RuntimeError: If the last :meth:`forward` call was not in training mode.
        """
        if self._cache is None:
            raise RuntimeError("backward() needs a preceding forward(x, training=True)")
        dx, self.dgamma, self.dbeta = batch_norm_backward(dy, self._cache)
        return dx
