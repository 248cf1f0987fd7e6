"""Layer, group, instance and ghost batch normalization in NumPy: one computation, four axes.

Every normalization in this module computes

    y = gamma * (x - mean) / sqrt(var + epsilon) + beta

with ``gamma`` and ``beta`` per feature along ``axis`` (shape ``(C,)``), and differs from
the others only in *which values share one mean and variance* (Wu & He, 2018, Section 3.1).
Split the feature axis into ``groups`` groups of ``C // groups`` consecutive channels;
then a statistic is taken over ``reduce_axes`` of ``x`` and over the channels of one group:

=============== ======================================== ===============
normalization   ``reduce_axes``                           ``groups``
=============== ======================================== ===============
batch           every axis except ``axis`` (batch too)    ``C``
layer           every axis except the batch axis 0 and    ``1``
                ``axis``
instance        same as layer                             ``C``
group           same as layer                             ``groups``
=============== ======================================== ===============

:func:`normalize_over` is that one computation. It does the arithmetic by handing the
values to :func:`companion.numpy_bn.batch_norm_forward` as an ``(m, K)`` matrix, one
column per statistic: so each normalization *is* batch normalization of a rearranged
array, with the same careful float64 statistics and the same tested backward pass.

Conventions: axis 0 is the batch axis; ``axis`` is the feature (channel) axis, ``-1`` for
``(N, D)`` and ``(N, H, W, C)``, ``1`` for ``(N, C, H, W)``. Layer, group and instance
normalization have no moving statistics: they compute the same thing in training and at
inference, for any batch size, one example at a time.

References:
    Ba, Kiros & Hinton, "Layer Normalization", 2016. https://arxiv.org/abs/1607.06450
    Ulyanov, Vedaldi & Lempitsky, "Instance Normalization", 2016.
    https://arxiv.org/abs/1607.08022
    Wu & He, "Group Normalization", ECCV 2018. https://arxiv.org/abs/1803.08494
    Hoffer, Hubara & Soudry, "Train longer, generalize better", NeurIPS 2017 (ghost batch
    normalization). https://arxiv.org/abs/1705.08741
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from companion.numpy_bn import (
    BatchNormCache,
    _as_float_array,
    _check_epsilon,
    _check_per_feature,
    _compute_dtype,
    _feature_axis,
    _per_feature,
    batch_norm_backward,
    batch_norm_forward,
)

__all__ = [
    "NormCache",
    "batch_norm",
    "ghost_batch_norm",
    "ghost_batch_norm_backward",
    "group_norm",
    "group_norm_backward",
    "instance_norm",
    "instance_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "normalize_over",
    "normalize_over_backward",
    "reduction",
    "statistics_index",
]


class _Layout(NamedTuple):
    """How ``x`` is rearranged into the ``(m, K)`` matrix that BN normalizes per column."""

    view_shape: tuple[int, ...]  # x with the feature axis split into (groups, C // groups)
    perm: tuple[int, ...]  # transposes the view to (reduced axes..., kept axes...)
    kept_shape: tuple[int, ...]  # sizes of the kept axes: the shape of mean and var
    count: int  # m, values per statistic


class NormCache(NamedTuple):
    """What :func:`normalize_over` keeps for the backward pass.

    ``x_hat`` has the shape of the forward input and the compute dtype (float32 for
    float16/float32 inputs, float64 for float64). ``mean`` and ``var`` are float64 with one
    entry per statistic, shape ``kept_shape`` (e.g. ``(N, groups)`` for group norm).
    """

    x_hat: np.ndarray  # normalized input, before gamma and beta
    gamma: np.ndarray  # (C,), compute dtype
    mean: np.ndarray  # one per statistic, float64
    var: np.ndarray  # biased variance, one per statistic, float64
    count: int  # m, values per statistic
    axis: int  # the feature axis, non-negative
    reduce_axes: tuple[int, ...]  # axes of x averaged over (besides the group's channels)
    groups: int  # channel groups; C means one statistic per channel
    layout: _Layout
    bn_cache: BatchNormCache  # of the (m, K) matrix
    x_dtype: np.dtype


# ---------------------------------------------------------------------------------------------
# Which values share a statistic
# ---------------------------------------------------------------------------------------------


def _check_groups(groups, channels: int, name: str = "groups") -> int:
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(groups).__name__}: {groups!r}")
    if groups < 1 or channels % groups != 0:
        raise ValueError(
            f"{name} must be a positive divisor of the number of channels C={channels}, "
            f"got {name}={groups}"
        )
    return int(groups)


def _check_reduce_axes(reduce_axes, ndim: int, axis: int) -> tuple[int, ...]:
    if isinstance(reduce_axes, numbers.Integral) and not isinstance(reduce_axes, bool):
        reduce_axes = (reduce_axes,)
    try:
        axes = [a for a in reduce_axes]
    except TypeError:
        raise TypeError(f"reduce_axes must be a sequence of ints, got {reduce_axes!r}") from None
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"reduce_axes must be a sequence of ints, got {reduce_axes!r}")
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"reduce_axes={tuple(axes)} has an axis out of range for ndim={ndim}")
    normalized = sorted({int(a) % ndim for a in axes})
    if len(normalized) != len(axes):
        raise ValueError(f"reduce_axes={tuple(axes)} names an axis twice")
    if axis in normalized:
        raise ValueError(
            f"reduce_axes={tuple(axes)} contains the feature axis {axis}: channels are "
            "averaged over through groups, not reduce_axes"
        )
    return tuple(normalized)


def reduction(
    shape: Sequence[int], *, reduce_axes: Sequence[int], groups: int | None = None, axis: int = -1
) -> _Layout:
    """The layout that makes a normalization a column-wise batch normalization.

    The feature axis ``axis`` of an array of ``shape`` is split into ``(groups, C // groups)``;
    the statistics are taken over ``reduce_axes`` and the within-group axis, and there is
    one statistic for every combination of the remaining (kept) axes.

    Args:
        shape: Shape of ``x``, e.g. ``(N, H, W, C)``.
        reduce_axes: Axes of ``x`` averaged over, not including ``axis``.
        groups: Number of channel groups; ``None`` means ``C`` (every channel alone).
        axis: The feature axis.

    Returns:
        The layout: ``kept_shape`` is the shape of the statistics, ``count`` the number of
        values each one averages.
    """
    shape = tuple(int(s) for s in shape)
    axis = _feature_axis(axis, shape)
    reduce_axes = _check_reduce_axes(reduce_axes, len(shape), axis)
    channels = shape[axis]
    groups = channels if groups is None else _check_groups(groups, channels)
    # View axes: 0..axis-1 as in x, axis -> group, axis+1 -> channel within the group, the rest
    # shifted by one.
    view_shape = shape[:axis] + (groups, channels // groups) + shape[axis + 1 :]
    reduced = sorted([a if a < axis else a + 1 for a in reduce_axes] + [axis + 1])
    kept = [a for a in range(len(view_shape)) if a not in reduced]
    count = int(np.prod([view_shape[a] for a in reduced]))
    return _Layout(view_shape, tuple(reduced + kept), tuple(view_shape[a] for a in kept), count)


def _to_matrix(a: np.ndarray, layout: _Layout) -> np.ndarray:
    """``x``-shaped array -> ``(m, K)``, one column per statistic."""
    return a.reshape(layout.view_shape).transpose(layout.perm).reshape(layout.count, -1)


def _from_matrix(a: np.ndarray, layout: _Layout, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_to_matrix`."""
    transposed_shape = tuple(layout.view_shape[p] for p in layout.perm)
    inverse = np.argsort(layout.perm)
    return a.reshape(transposed_shape).transpose(inverse).reshape(shape)


def statistics_index(
    shape: Sequence[int], *, reduce_axes: Sequence[int], groups: int | None = None, axis: int = -1
) -> np.ndarray:
    """For every entry of an array of ``shape``, the number of the statistic it shares.

    Two entries have the same number exactly when :func:`normalize_over` with these
    arguments normalizes them with the same mean and variance. The book draws its picture
    of the four normalizations from this.

    Returns:
        Int array of ``shape`` with values ``0 .. K - 1``.
    """
    layout = reduction(shape, reduce_axes=reduce_axes, groups=groups, axis=axis)
    columns = np.arange(int(np.prod(layout.kept_shape)))
    matrix = np.broadcast_to(columns, (layout.count, columns.size))
    return _from_matrix(np.ascontiguousarray(matrix), layout, tuple(shape))


# ---------------------------------------------------------------------------------------------
# The one computation
# ---------------------------------------------------------------------------------------------


def normalize_over(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    reduce_axes: Sequence[int],
    groups: int | None = None,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, NormCache]:
    """Normalize with statistics over ``reduce_axes`` and channel groups; scale and shift.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``, where each ``mean`` and biased
    ``var`` is taken over ``reduce_axes`` and the ``C // groups`` channels of one group,
    and ``gamma``, ``beta`` are per channel along ``axis``. The statistics are computed by
    :func:`~companion.numpy_bn.batch_norm_forward` on an ``(m, K)`` rearrangement of ``x``.

    Args:
        x: Float array of rank >= 2, e.g. ``(N, D)``, ``(N, H, W, C)``, ``(N, T, D)``.
        gamma: Scale, shape ``(C,)`` with ``C = x.shape[axis]``.
        beta: Shift, shape ``(C,)``.
        reduce_axes: Axes averaged over, not including ``axis``.
        groups: Channel groups averaged together; ``None`` (default) is ``C``.
        axis: The feature axis.
        epsilon: Added to the variance before the square root (Keras's default 1e-3).

    Returns:
        ``(y, cache)``: ``y`` like ``x`` (shape and dtype) and a :class:`NormCache`.

    Raises:
        TypeError: If an array is not floating point, or an axis or ``groups`` not an int.
        ValueError: On an axis out of range, ``groups`` that does not divide ``C``,
            ``gamma``/``beta`` not of shape ``(C,)``, ``epsilon <= 0``, or statistics over a
            single value each (their variance is 0 and ``y`` would be ``beta`` alone).
    """
    x = _as_float_array(x, "x")
    axis = _feature_axis(axis, x.shape)
    if x.size == 0:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    reduce_axes = _check_reduce_axes(reduce_axes, x.ndim, axis)
    layout = reduction(x.shape, reduce_axes=reduce_axes, groups=groups, axis=axis)
    gamma = _check_per_feature(gamma, "gamma", x.shape, axis)
    beta = _check_per_feature(beta, "beta", x.shape, axis)
    epsilon = _check_epsilon(epsilon)
    if layout.count == 1:
        raise ValueError(
            f"each statistic would average a single value (x of shape {x.shape}, "
            f"reduce_axes={reduce_axes}, groups={groups}): its variance is 0, so the "
            "output would be beta whatever x is"
        )
    dtype = _compute_dtype(x.dtype)

    columns = _to_matrix(x, layout)
    ones, zeros = np.ones(columns.shape[1], dtype), np.zeros(columns.shape[1], dtype)
    x_hat_columns, bn_cache = batch_norm_forward(columns, ones, zeros, axis=-1, epsilon=epsilon)
    x_hat = _from_matrix(bn_cache.x_hat, layout, x.shape)
    gamma = gamma.astype(dtype)
    y = _per_feature(gamma, x.ndim, axis) * x_hat + _per_feature(beta.astype(dtype), x.ndim, axis)

    cache = NormCache(
        x_hat=x_hat,
        gamma=gamma,
        mean=bn_cache.mean.reshape(layout.kept_shape),
        var=bn_cache.var.reshape(layout.kept_shape),
        count=layout.count,
        axis=axis,
        reduce_axes=reduce_axes,
        groups=layout.view_shape[axis],
        layout=layout,
        bn_cache=bn_cache,
        x_dtype=x.dtype,
    )
    return y.astype(x.dtype, copy=False), cache


def normalize_over_backward(
    dy: np.ndarray, cache: NormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`normalize_over`.

    ``dgamma`` and ``dbeta`` sum over every axis except ``axis``; the gradient through the
    statistics is :func:`~companion.numpy_bn.batch_norm_backward` of the rearranged
    ``dx_hat = dy * gamma``.

    Args:
        dy: Upstream gradient, the shape of the forward input ``x``.
        cache: From :func:`normalize_over` (or a function that calls it).

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``x`` (shape and dtype), ``dgamma`` and
        ``dbeta`` of shape ``(C,)`` in the compute dtype.

    Raises:
        TypeError: If ``dy`` is not floating point.
        ValueError: If ``dy`` does not have the forward input's shape.
    """
    dy = _as_float_array(dy, "dy")
    if dy.shape != cache.x_hat.shape:
        raise ValueError(
            f"dy must have the shape of the forward input x, {cache.x_hat.shape}, got {dy.shape}"
        )
    dy = dy.astype(cache.x_hat.dtype, copy=False)
    others = tuple(a for a in range(dy.ndim) if a != cache.axis)
    accumulate = np.promote_types(dy.dtype, np.float64)
    dbeta = np.sum(dy, axis=others, dtype=accumulate).astype(dy.dtype)
    dgamma = np.sum(dy * cache.x_hat, axis=others, dtype=accumulate).astype(dy.dtype)

    dx_hat = dy * _per_feature(cache.gamma, dy.ndim, cache.axis)
    dx_columns, _, _ = batch_norm_backward(_to_matrix(dx_hat, cache.layout), cache.bn_cache)
    dx = _from_matrix(dx_columns, cache.layout, dy.shape)
    return dx.astype(cache.x_dtype, copy=False), dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# The four normalizations (and ghost batch normalization) as calls of the one computation
# ---------------------------------------------------------------------------------------------


def _per_example_axes(x, axis: int, name: str) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """Validates x and axis for a per-example normalization; returns the spatial axes."""
    x = _as_float_array(x, "x")
    axis = _feature_axis(axis, x.shape)
    if axis == 0:
        raise ValueError(
            f"{name}: axis={axis} is the batch axis of x of shape {x.shape}; the feature axis "
            "must be another one (statistics are per example)"
        )
    return x, axis, tuple(a for a in range(1, x.ndim) if a != axis)


def batch_norm(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, axis: int = -1, epsilon: float = 1e-3
) -> tuple[np.ndarray, NormCache]:
    """Batch normalization in training mode: statistics per channel over the batch (and space).

    The same numbers as :func:`~companion.numpy_bn.batch_norm_forward`, written as a call of
    :func:`normalize_over`. Unlike that function it refuses a batch that gives each channel a
    single value, such as one example of shape ``(1, D)`` (PyTorch refuses it too).

    Args:
        x: ``(N, D)``, ``(N, H, W, C)``, ... with the feature axis ``axis`` (not 0).
        gamma, beta: Shape ``(C,)``.
        axis: The feature axis.
        epsilon: Added to the variance.

    Returns:
        ``(y, cache)``; ``cache.mean`` and ``cache.var`` have shape ``(C,)``.

    Raises:
        ValueError: For a batch of one with no other axis to average over, and the errors
            of :func:`normalize_over`.
    """
    x, axis, spatial = _per_example_axes(x, axis, "batch_norm")
    if x.shape[0] == 1 and int(np.prod([x.shape[a] for a in spatial])) == 1:
        raise ValueError(
            f"batch_norm in training mode needs more than one value per channel, got x of shape "
            f"{x.shape} (a batch of one): the batch variance is 0 and the output would be beta "
            "alone. Use layer_norm or group_norm, or BN's inference mode with moving statistics"
        )
    y, cache = normalize_over(x, gamma, beta, reduce_axes=(0, *spatial), axis=axis, epsilon=epsilon)
    return y, cache._replace(mean=cache.mean.reshape(-1), var=cache.var.reshape(-1))


def layer_norm(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, axis: int = -1, epsilon: float = 1e-3
) -> tuple[np.ndarray, NormCache]:
    """Layer normalization: one mean and variance per example, over all its values.

    Keras's ``LayerNormalization(axis=-1)`` for ``(N, D)``; for ``(N, H, W, C)`` it is
    Keras's ``LayerNormalization(axis=[1, 2, 3])`` with ``gamma``/``beta`` shared across
    positions (Keras gives every position its own).

    Args:
        x: ``(N, D)``, ``(N, T, D)``, ``(N, H, W, C)``, ...
        gamma, beta: Shape ``(C,)`` along ``axis``.
        axis: The feature axis (not 0, the batch axis).
        epsilon: Added to the variance.

    Returns:
        ``(y, cache)``; ``cache.mean`` and ``cache.var`` have shape ``(N, 1)``.
    """
    x, axis, spatial = _per_example_axes(x, axis, "layer_norm")
    return normalize_over(x, gamma, beta, reduce_axes=spatial, groups=1, axis=axis, epsilon=epsilon)


def group_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    groups: int,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, NormCache]:
    """Group normalization: per example, per group of ``C // groups`` channels and all positions.

    ``groups=1`` is :func:`layer_norm`; ``groups=C`` is :func:`instance_norm`. Keras's
    ``GroupNormalization(groups=groups, axis=axis)``; Wu and He use 32 groups.

    Args:
        x: ``(N, H, W, C)``, ``(N, C, H, W)`` with ``axis=1``, ``(N, D)``, ...
        gamma, beta: Shape ``(C,)``.
        groups: Number of groups; must divide ``C``.
        axis: The feature axis (not 0).
        epsilon: Added to the variance.

    Returns:
        ``(y, cache)``; ``cache.mean`` and ``cache.var`` have shape ``(N, groups)``.
    """
    x, axis, spatial = _per_example_axes(x, axis, "group_norm")
    _check_groups(groups, x.shape[axis])
    return normalize_over(
        x, gamma, beta, reduce_axes=spatial, groups=groups, axis=axis, epsilon=epsilon
    )


def instance_norm(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, axis: int = -1, epsilon: float = 1e-3
) -> tuple[np.ndarray, NormCache]:
    """Instance normalization: per example and channel, over the positions (one channel a group).

    Keras's ``GroupNormalization(groups=-1)``. It needs positions to average over, so ``x``
    must have at least one axis besides the batch and feature axes.

    Args:
        x: ``(N, H, W, C)``, ``(N, T, C)``, ``(N, C, H, W)`` with ``axis=1``, ...
        gamma, beta: Shape ``(C,)``.
        axis: The feature axis (not 0).
        epsilon: Added to the variance.

    Returns:
        ``(y, cache)``; ``cache.mean`` and ``cache.var`` have shape ``(N, C)``.
    """
    x, axis, spatial = _per_example_axes(x, axis, "instance_norm")
    if not spatial:
        raise ValueError(
            f"instance_norm needs an axis besides the batch and feature axes to average over, "
            f"got x of shape {x.shape}: each (example, channel) would be a single value"
        )
    return normalize_over(x, gamma, beta, reduce_axes=spatial, axis=axis, epsilon=epsilon)


def ghost_batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    virtual_batch_size: int,
    axis: int = -1,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, NormCache]:
    """Ghost batch normalization: BN of each "virtual" batch of ``virtual_batch_size`` examples.

    The batch of ``N`` examples is cut into ``N // virtual_batch_size`` consecutive
    virtual batches, and each is normalized with its own statistics, as if it were a batch
    of its own (Hoffer et al., 2017). ``normalize_over`` sees ``x`` reshaped to
    ``(N // v, v, ...)`` and keeps the new leading axis, like a per-example normalization.

    Args:
        x: ``(N, D)``, ``(N, H, W, C)``, ...
        gamma, beta: Shape ``(C,)``.
        virtual_batch_size: ``v``, must divide ``N``; ``v = N`` is plain :func:`batch_norm`.
        axis: The feature axis (not 0).
        epsilon: Added to the variance.

    Returns:
        ``(y, cache)``; ``cache.mean`` and ``cache.var`` have shape ``(N // v, C)``.
    """
    x, axis, spatial = _per_example_axes(x, axis, "ghost_batch_norm")
    v = virtual_batch_size
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"virtual_batch_size must be an int, got {type(v).__name__}: {v!r}")
    if v < 1 or x.shape[0] % v != 0:
        raise ValueError(
            f"virtual_batch_size must be a positive divisor of the batch size {x.shape[0]}, "
            f"got virtual_batch_size={v}"
        )
    ghosts = x.reshape(x.shape[0] // v, v, *x.shape[1:])
    reduce_axes = (1, *(a + 1 for a in spatial))
    y, cache = normalize_over(
        ghosts, gamma, beta, reduce_axes=reduce_axes, axis=axis + 1, epsilon=epsilon
    )
    kept = (x.shape[0] // v, x.shape[axis])
    return y.reshape(x.shape), cache._replace(
        mean=cache.mean.reshape(kept), var=cache.var.reshape(kept)
    )


Grads = tuple[np.ndarray, np.ndarray, np.ndarray]


def layer_norm_backward(dy: np.ndarray, cache: NormCache) -> Grads:
    """Backward pass of :func:`layer_norm`: ``(dx, dgamma, dbeta)``.

    See :func:`normalize_over_backward`; ``dx`` is shaped like ``x``, the others ``(C,)``.
    """
    return normalize_over_backward(dy, cache)


def group_norm_backward(dy: np.ndarray, cache: NormCache) -> Grads:
    """Backward pass of :func:`group_norm`: ``(dx, dgamma, dbeta)``.

    See :func:`normalize_over_backward`; ``dx`` is shaped like ``x``, the others ``(C,)``.
    """
    return normalize_over_backward(dy, cache)


def instance_norm_backward(dy: np.ndarray, cache: NormCache) -> Grads:
    """Backward pass of :func:`instance_norm`: ``(dx, dgamma, dbeta)``.

    See :func:`normalize_over_backward`; ``dx`` is shaped like ``x``, the others ``(C,)``.
    """
    return normalize_over_backward(dy, cache)


def ghost_batch_norm_backward(dy: np.ndarray, cache: NormCache) -> Grads:
    """Backward pass of :func:`ghost_batch_norm`: ``(dx, dgamma, dbeta)``.

    Args:
        dy: Upstream gradient, shaped like the forward input ``x`` ``(N, ...)``.
        cache: From :func:`ghost_batch_norm` (it describes ``x`` as ``(N // v, v, ...)``).

    Returns:
        ``dx`` shaped like ``x``; ``dgamma`` and ``dbeta`` of shape ``(C,)``.

    Raises:
        ValueError: If ``dy`` does not have the forward input's shape.
    """
    dy = _as_float_array(dy, "dy")
    ghosts, virtual = cache.x_hat.shape[:2]
    x_shape = (ghosts * virtual, *cache.x_hat.shape[2:])
    if dy.shape != x_shape:
        raise ValueError(
            f"dy must have the shape of the forward input x, {x_shape}, got {dy.shape}"
        )
    dx, dgamma, dbeta = normalize_over_backward(dy.reshape(cache.x_hat.shape), cache)
    return dx.reshape(x_shape), dgamma, dbeta
