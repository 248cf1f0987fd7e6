"""Hyperparameter tuning helpers: the model the searches tune and sweep bookkeeping.

- :func:`build_mlp`: one Keras MLP for the flattened digits, ``(Dense -> [BN] -> ReLU)``
  repeated, then ``Dense(10)``. KerasTuner builds its trials with it, and
  :func:`companion.stacked.train_stack` trains many copies of it at once.
- :func:`expand_seeds` and :func:`trainable_range`: bookkeeping for sweeps over seeds.

The searches themselves (grid, random, coarse to fine) are in :mod:`companion.search`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np


def build_mlp(
    *,
    width: int = 64,
    depth: int = 2,
    batch_norm: bool = True,
    init_scale: float = 1.0,
    l2: float = 0.0,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-3,
    inputs: int = 64,
    classes: int = 10,
    seed: int = 0,
) -> keras.Sequential:
    """An MLP, ``(N, inputs)`` -> ``(N, classes)`` logits; one member of a stack.

    Each hidden layer is ``Dense(width)`` -> ``BatchNormalization`` -> ReLU (the Dense
    has no bias then: BN's beta replaces it) or, without BN, ``Dense`` -> ReLU. Kernels
    start from a Gaussian with ``init_scale * sqrt(2 / fan_in)`` standard deviation (He
    initialization when ``init_scale == 1``), biases from zero; ``l2`` penalizes every
    kernel with ``l2 * sum(w**2)``.
    """
    for name, value in (("width", width), ("depth", depth), ("inputs", inputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    keras.utils.set_random_seed(seed)
    layers: list = [keras.Input((inputs,))]
    for fan_in in [inputs] + [width] * (depth - 1):
        layers.append(_dense(width, fan_in, init_scale, l2, use_bias=not batch_norm))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon))
        layers.append(keras.layers.ReLU())
    layers.append(_dense(classes, width, init_scale, l2, use_bias=True))
    return keras.Sequential(layers, name=f"mlp_{'bn' if batch_norm else 'plain'}_{width}x{depth}")


def _dense(units: int, fan_in: int, init_scale: float, l2: float, *, use_bias: bool):
    stddev = init_scale * np.sqrt(2.0 / fan_in)
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=keras.initializers.RandomNormal(stddev=stddev),
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
    )


def expand_seeds(trials: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Every trial once per seed, seeds varying fastest: ``len(trials) * len(seeds)`` trials.

    Reshape a per-trial result to ``(len(trials), len(seeds))`` to get one row per trial.
    """
    if len(seeds) == 0:
        raise ValueError(f"seeds must hold at least one seed, got {seeds!r}")
    return [{**t, "seed": s} for t in trials for s in seeds]


def trainable_range(
    values: Sequence[float], scores: np.ndarray, threshold: float
) -> tuple[float, float] | None:
    """The smallest and largest value at which *every* seed scored at least ``threshold``.

    Args:
        values: Shape ``(V,)``, the swept values in increasing order.
        scores: Shape ``(V, R)``, one score per value and seed (NaN fails).
        threshold: The score that counts as "trains".

    Returns:
        ``(low, high)``, or None when no value passes.
    """
    scores = np.asarray(scores, dtype=float)
    values = np.asarray(values, dtype=float)
    if scores.ndim != 2 or scores.shape[0] != values.shape[0]:
        raise ValueError(f"scores must have shape ({values.shape[0]}, R), got {scores.shape}")
    passing = np.all(np.nan_to_num(scores, nan=-np.inf) >= threshold, axis=1)
    if not passing.any():
        return None
    return float(values[passing].min()), float(values[passing].max())
