"""Hyperparameter search from scratch: search spaces, grid and random search, zooming in.

Pure NumPy, no training: a search here only *proposes* trials (one ``dict`` per trial,
hyperparameter name -> value); running them is the caller's business
(:func:`companion.tuning.train_stack` trains a whole list of trials at once).

- :class:`Range`: a numeric interval and the scale to spread trials on: ``"linear"``,
  ``"log"`` (uniform in ``log10``, for learning rates and penalties) or ``"beta"``
  (``1 - 10**u`` with ``u`` uniform, for averaging parameters close to 1).
- :class:`Choice`: a finite set of options (BN on or off, a layer width).
- :func:`grid_search` and :func:`random_search` (Bergstra and Bengio, 2012).
- :func:`zoom`: the next, narrower space around the best trials (coarse to fine).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The scales a :class:`Range` can spread its values on.
SCALES = ("linear", "log", "beta")


@dataclass(frozen=True)
class Range:
    """A numeric hyperparameter between ``low`` and ``high`` on a sampling scale.

    Args:
        low, high: The bounds, ``low < high``. ``"log"`` needs ``low > 0``; ``"beta"``
            needs ``0 <= low < high < 1``.
        scale: ``"linear"``: uniform in the value. ``"log"``: uniform in ``log10(value)``,
            so each decade gets the same share of trials. ``"beta"``: ``value = 1 - 10**u``
            with ``u`` uniform, so each decade of ``1 - value`` (0.9 to 0.99, 0.99 to
            0.999, ...) gets the same share.
    """

    low: float
    high: float
    scale: str = "linear"

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if not self.low < self.high:
            raise ValueError(f"need low < high, got low={self.low!r}, high={self.high!r}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"scale='log' needs low > 0, got low={self.low!r}")
        if self.scale == "beta" and not (0 <= self.low and self.high < 1):
            raise ValueError(
                f"scale='beta' needs 0 <= low < high < 1, got low={self.low!r}, high={self.high!r}"
            )

    def _ends(self) -> tuple[float, float]:
        """The bounds on the scale where trials are spread uniformly."""
        if self.scale == "log":
            return np.log10(self.low), np.log10(self.high)
        if self.scale == "beta":
            return np.log10(1 - self.low), np.log10(1 - self.high)
        return float(self.low), float(self.high)

    def values(self, u: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """Map positions ``u`` in ``[0, 1]`` (0: ``low``, 1: ``high``) to values."""
        u = np.asarray(u, dtype=float)
        if np.any((u < 0) | (u > 1)):
            raise ValueError(f"u must lie in [0, 1], got values from {u.min()} to {u.max()}")
        a, b = self._ends()
        t = a + u * (b - a)
        if self.scale == "log":
            return 10.0**t
        if self.scale == "beta":
            return 1.0 - 10.0**t
        return t

    def positions(self, values: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """The inverse of :meth:`values`: where ``values`` sit on the scale, in ``[0, 1]``."""
        v = np.asarray(values, dtype=float)
        if np.any((v < self.low) | (v > self.high)):
            raise ValueError(f"values must lie in [{self.low}, {self.high}], got {values!r}")
        a, b = self._ends()
        if self.scale == "log":
            t = np.log10(v)
        elif self.scale == "beta":
            t = np.log10(1 - v)
        else:
            t = v
        return (t - a) / (b - a)


@dataclass(frozen=True)
class Choice:
    """A hyperparameter that takes one of a few ``options`` (in a fixed order)."""

    options: tuple

    def __post_init__(self) -> None:
        if not isinstance(self.options, tuple | list) or len(self.options) == 0:
            raise ValueError(f"options must be a non-empty tuple, got {self.options!r}")
        object.__setattr__(self, "options", tuple(self.options))

    def values(self, u: np.ndarray | Sequence[float] | float) -> list:
        """Option ``floor(u * n)`` for each ``u`` in ``[0, 1]`` (``u = 1`` gives the last)."""
        u = np.asarray(u, dtype=float)
        if np.any((u < 0) | (u > 1)):
            raise ValueError(f"u must lie in [0, 1], got values from {u.min()} to {u.max()}")
        index = np.minimum((u * len(self.options)).astype(int), len(self.options) - 1)
        return [self.options[i] for i in np.atleast_1d(index)]


def check_space(space: Mapping[str, Range | Choice]) -> dict[str, Range | Choice]:
    """Validate a search space (name -> :class:`Range` or :class:`Choice`); returns a copy.

    Raises:
        TypeError: If ``space`` is not a mapping, a name is not a string or a dimension
            is neither a ``Range`` nor a ``Choice``.
        ValueError: If ``space`` is empty.
    """
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a dict of name -> Range/Choice, got {type(space).__name__}")
    if len(space) == 0:
        raise ValueError(f"space must name at least one hyperparameter, got {dict(space)!r}")
    for name, dim in space.items():
        if not isinstance(name, str):
            raise TypeError(f"hyperparameter names must be str, got {name!r}")
        if not isinstance(dim, Range | Choice):
            raise TypeError(f"space[{name!r}] must be a Range or a Choice, got {dim!r}")
    return dict(space)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def grid_search(space: Mapping[str, Range | Choice], points: int) -> list[dict[str, Any]]:
    """Every combination of ``points`` evenly spaced values per :class:`Range`.

    Values are spread evenly *on the range's scale* and include both bounds (one point:
    the middle). A :class:`Choice` contributes all its options. The number of trials is
    the product of the per-dimension counts: it grows exponentially with the dimensions.

    Returns:
        One ``dict`` per trial, the last dimension varying fastest.
    """
    space = check_space(space)
    points = _check_count("points", points)
    u = np.linspace(0, 1, points) if points > 1 else np.array([0.5])
    axes = [
        list(dim.options) if isinstance(dim, Choice) else [float(v) for v in dim.values(u)]
        for dim in space.values()
    ]
    return [dict(zip(space, combo, strict=True)) for combo in itertools.product(*axes)]


def random_search(
    space: Mapping[str, Range | Choice], n_trials: int, *, seed: int = 0
) -> list[dict[str, Any]]:
    """``n_trials`` trials, each dimension drawn independently and uniformly on its scale.

    Returns:
        One ``dict`` per trial; the same ``seed`` gives the same trials.
    """
    space = check_space(space)
    n_trials = _check_count("n_trials", n_trials)
    rng = np.random.default_rng(seed)
    columns = {}
    for name, dim in space.items():
        drawn = dim.values(rng.uniform(size=n_trials))
        columns[name] = list(drawn) if isinstance(dim, Choice) else [float(v) for v in drawn]
    return [{name: columns[name][i] for name in space} for i in range(n_trials)]


def zoom(
    space: Mapping[str, Range | Choice],
    trials: Sequence[Mapping[str, Any]],
    scores: Sequence[float],
    *,
    keep: int = 3,
    margin: float = 0.1,
) -> dict[str, Range | Choice]:
    """Coarse to fine: a narrower space around the ``keep`` best-scoring trials.

    Each :class:`Range` shrinks to the span of the best trials' positions on its scale,
    widened by ``margin`` (a fraction of the old span) on each side and clipped to the
    old bounds; a :class:`Choice` keeps the options the best trials used.

    Args:
        space: The space the trials were drawn from.
        trials: The trials, as :func:`random_search` returns them.
        scores: One score per trial, higher is better (NaN counts as worst).
        keep: How many of the best trials define the new space.
        margin: Extra room on each side, as a fraction of the old span.
    """
    space = check_space(space)
    keep = _check_count("keep", keep)
    scores = np.asarray(scores, dtype=float)
    if len(trials) == 0 or scores.shape != (len(trials),):
        raise ValueError(f"need one score per trial, got {len(trials)} trials, {scores.shape}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    best = np.argsort(np.where(np.isnan(scores), -np.inf, scores))[::-1][:keep]
    new: dict[str, Range | Choice] = {}
    for name, dim in space.items():
        picked = [trials[i][name] for i in best]
        if isinstance(dim, Choice):
            new[name] = Choice(tuple(o for o in dim.options if o in picked))
            continue
        u = dim.positions(picked)
        lo, hi = max(u.min() - margin, 0.0), min(u.max() + margin, 1.0)
        low, high = (float(v) for v in dim.values([lo, hi]))
        new[name] = Range(low, high, dim.scale) if low < high else dim
    return new
