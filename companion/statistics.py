"""The statistics behind BN's two modes: moving averages, batch noise, population statistics.

Chapter 3 uses these helpers to show *why* inference needs different statistics from
training. Moving averages use the Keras form said once for the whole course::

    moving = momentum * moving + (1 - momentum) * new_value
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np


def _check_momentum(momentum: float) -> float:
    if isinstance(momentum, bool) or not isinstance(momentum, float | int | np.floating):
        raise TypeError(f"momentum must be a number, got {type(momentum).__name__}")
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    return float(momentum)


def exponential_moving_average(
    values: np.ndarray, momentum: float, *, initial: float | np.ndarray = 0.0
) -> np.ndarray:
    """Run an exponential moving average (EMA) along the first axis of ``values``.

    Step ``t`` computes ``moving = momentum * moving + (1 - momentum) * values[t]``,
    starting from ``initial`` (Keras starts a BN layer's moving mean at 0 and its
    moving variance at 1).

    Args:
        values: Shape ``(T, ...)``: one new value (scalar or array) per step.
        momentum: Weight of the old average, in ``[0, 1)``.
        initial: The average before the first step; broadcast to ``values.shape[1:]``.

    Returns:
        Shape ``(T, ...)``: the average *after* each step.
    """
    momentum = _check_momentum(momentum)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"values must have at least one step, got shape {values.shape}")
    out = np.empty_like(values)
    moving = np.broadcast_to(np.asarray(initial, dtype=np.float64), values.shape[1:]).copy()
    for t, value in enumerate(values):
        moving = momentum * moving + (1.0 - momentum) * value
        out[t] = moving
    return out


def ema_window(momentum: float) -> float:
    """The EMA's effective window ``1 / (1 - momentum)``, in steps.

    The newest ``1 / (1 - momentum)`` values carry about ``1 - 1/e`` (63 %) of the
    total weight; it is also how many steps the average needs to cover 63 % of a jump.
    """
    return 1.0 / (1.0 - _check_momentum(momentum))


def steps_to_forget(momentum: float, fraction: float) -> int:
    """Fewest steps after which the starting value weighs at most ``fraction``.

    After ``k`` steps the initial value's weight in the EMA is ``momentum ** k``.

    Args:
        momentum: Weight of the old average, in ``(0, 1)``.
        fraction: Target weight in ``(0, 1)``.

    Returns:
        The smallest integer ``k`` with ``momentum ** k <= fraction``.
    """
    momentum = _check_momentum(momentum)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    if momentum == 0.0:
        return 1
    k = int(np.ceil(np.log(fraction) / np.log(momentum)))
    # Guard against rounding in the logarithms: step to the exact integer.
    while momentum**k > fraction:
        k += 1
    while k > 1 and momentum ** (k - 1) <= fraction:
        k -= 1
    return k


def unbiased_variance_factor(batch_size: int | np.ndarray) -> float | np.ndarray:
    """Bessel's correction ``m / (m - 1)`` that turns a biased batch variance unbiased.

    Args:
        batch_size: The number ``m`` of values each variance was computed from (>= 2).
    """
    m = np.asarray(batch_size, dtype=np.float64)
    if np.any(m < 2):
        raise ValueError(f"batch_size must be at least 2, got {batch_size!r}")
    factor = m / (m - 1.0)
    return float(factor) if factor.ndim == 0 else factor


class BatchNoise(NamedTuple):
    """How much the statistics of random mini-batches scatter, per batch size.

    Each array has shape ``(len(batch_sizes), D)``: one row per batch size, one column
    per feature.
    """

    batch_sizes: np.ndarray
    mean_std: np.ndarray  # std over batches of the batch mean
    variance_std: np.ndarray  # std over batches of the (biased) batch variance
    variance_mean: np.ndarray  # average over batches of the (biased) batch variance


def _as_features(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"data must have shape (N,) or (N, D), got {data.shape}")
    return data


def batch_statistics_noise(
    data: np.ndarray,
    batch_sizes: Iterable[int],
    *,
    num_batches: int = 1000,
    seed: int = 0,
) -> BatchNoise:
    """Measure the scatter of batch means and batch variances for several batch sizes.

    For each batch size ``m``, draws ``num_batches`` mini-batches as a shuffled data
    loader does (every epoch a new permutation of the rows, cut into batches of ``m``
    distinct rows) and computes each batch's mean and biased variance per feature, as
    BN does in training mode.

    Args:
        data: Shape ``(N,)`` or ``(N, D)``: the values one BN feature (or ``D``
            features) would see over the whole data set.
        batch_sizes: Batch sizes to try, each in ``[2, N]``.
        num_batches: Batches drawn per batch size.
        seed: Seed of the draws.

    Returns:
        A :class:`BatchNoise`.
    """
    data = _as_features(data)
    sizes = np.asarray(list(batch_sizes), dtype=np.int64)
    n = data.shape[0]
    if sizes.size == 0 or np.any(sizes < 2) or np.any(sizes > n):
        raise ValueError(f"batch_sizes must lie in [2, {n}], got {sizes.tolist()}")
    if num_batches < 2:
        raise ValueError(f"num_batches must be at least 2, got {num_batches!r}")
    rng = np.random.default_rng(seed)
    mean_std, var_std, var_mean = [], [], []
    for m in sizes:
        per_epoch = n // m
        epochs = -(-num_batches // per_epoch)  # ceiling division
        rows = np.concatenate([rng.permutation(n)[: per_epoch * m] for _ in range(epochs)])
        batches = data[rows[: num_batches * m]].reshape(num_batches, m, data.shape[1])
        means = batches.mean(axis=1)
        variances = batches.var(axis=1)
        mean_std.append(means.std(axis=0))
        var_std.append(variances.std(axis=0))
        var_mean.append(variances.mean(axis=0))
    return BatchNoise(sizes, np.array(mean_std), np.array(var_std), np.array(var_mean))


def population_statistics(
    data: np.ndarray, batch_size: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The original paper's inference statistics, estimated from mini-batches.

    Splits a shuffled copy of ``data`` into mini-batches of ``batch_size`` (dropping a
    last, smaller one) and returns ``E[mu_B]`` and ``m / (m - 1) * E[sigma2_B]``, the
    average batch mean and the average biased batch variance made unbiased
    (Ioffe and Szegedy, 2015, Algorithm 2).

    Args:
        data: Shape ``(N,)`` or ``(N, D)``: the values of one feature (or ``D``).
        batch_size: The training batch size ``m`` (>= 2, at most ``N``).
        seed: Seed of the shuffle.

    Returns:
        ``(mean, variance)``, each of shape ``(D,)``.
    """
    data = _as_features(data)
    n = data.shape[0]
    if isinstance(batch_size, bool) or not 2 <= int(batch_size) <= n:
        raise ValueError(f"batch_size must lie in [2, {n}], got {batch_size!r}")
    m = int(batch_size)
    shuffled = data[np.random.default_rng(seed).permutation(n)]
    batches = shuffled[: (n // m) * m].reshape(n // m, m, data.shape[1])
    mean = batches.mean(axis=1).mean(axis=0)
    variance = unbiased_variance_factor(m) * batches.var(axis=1).mean(axis=0)
    return mean, variance
