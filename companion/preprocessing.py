"""Feature scaling from scratch: min-max normalization and z-score standardization.

Both scalers are one affine map per feature, ``x' = (x - shift) / scale``, and differ only
in the statistics they fit:

* z-score (:func:`fit_standard`): ``shift`` is the mean, ``scale`` the standard deviation;
* min-max (:func:`fit_minmax`): ``shift`` is the minimum, ``scale`` the range (max - min).

The arithmetic lives in pure functions that never modify their arguments;
:class:`StandardScaler` and :class:`MinMaxScaler` are thin stateful wrappers with the
familiar ``fit`` / ``transform`` / ``fit_transform`` / ``inverse_transform`` methods.
Fit them on the training split only and reuse the fitted statistics for every other split.

Conventions, the same as scikit-learn's: inputs have shape ``(N, D)`` (samples, features);
the standard deviation is the population one (divide by ``N``, not ``N - 1``), as in
``keras.layers.Normalization`` too; a constant feature gets ``scale = 1``, so it maps to 0
instead of to NaN or infinity. Statistics are computed in float64; a float32 (or float16)
input gives an output of the same dtype, every other numeric input gives float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "MinMaxScaler",
    "NotFittedError",
    "ScalingStats",
    "StandardScaler",
    "apply_scaling",
    "fit_minmax",
    "fit_standard",
    "invert_scaling",
]


class NotFittedError(ValueError, AttributeError):
    """A scaler was used before ``fit``. Subclasses ``ValueError`` and ``AttributeError``,
    like scikit-learn's exception of the same name."""


class ScalingStats(NamedTuple):
    """Fitted per-feature statistics of an affine scaler ``x' = (x - shift) / scale``.

    Both fields have shape ``(D,)`` and dtype float64; ``scale`` is never 0.
    """

    shift: np.ndarray
    scale: np.ndarray


_EPS = np.finfo(np.float64).eps


def _as_features(x: object, name: str = "x") -> np.ndarray:
    """``x`` as an array of shape ``(N, D)`` with N, D >= 1, finite, of a real numeric dtype."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a real numeric array (bool, int or float), got dtype {array.dtype}"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (N, D) (samples, features), got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one sample and one feature, got shape {array.shape}"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def _output_dtype(x: np.ndarray) -> np.dtype:
    return x.dtype if x.dtype in (np.float16, np.float32) else np.dtype(np.float64)


def fit_standard(x: np.ndarray) -> ScalingStats:
    """Fit z-score standardization: per-feature mean and (population) standard deviation.

    Args:
        x: Training features, shape ``(N, D)``.

    Returns:
        ``ScalingStats(shift=mean, scale=std)``; a constant feature gets ``scale = 1``, so
        it maps to 0 (up to rounding).
    """
    x = _as_features(x).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    # scikit-learn's test for "constant": a std within rounding error of the mean's size.
    # Identical values can give a std of 1e-17 instead of 0; dividing by it would blow
    # rounding noise up to +-1 (or, after underflow to 0, to inf).
    constant = std <= x.shape[0] * _EPS * np.abs(mean)
    return ScalingStats(shift=mean, scale=np.where(constant, 1.0, std))


def fit_minmax(x: np.ndarray) -> ScalingStats:
    """Fit min-max normalization to [0, 1]: per-feature minimum and range.

    Args:
        x: Training features, shape ``(N, D)``.

    Returns:
        ``ScalingStats(shift=min, scale=max - min)``; a constant feature gets ``scale = 1``.
    """
    x = _as_features(x).astype(np.float64)
    low, high = x.min(axis=0), x.max(axis=0)
    span = high - low
    # scikit-learn's threshold: a range below 10 machine epsilons counts as zero.
    return ScalingStats(shift=low, scale=np.where(span < 10 * _EPS, 1.0, span))


def _check_stats(x: np.ndarray, stats: ScalingStats) -> None:
    if not isinstance(stats, ScalingStats):
        raise TypeError(f"stats must be a ScalingStats, got {type(stats).__name__}")
    if x.shape[1] != stats.shift.shape[0]:
        raise ValueError(
            f"x has shape {x.shape} ({x.shape[1]} features), but the statistics were fitted "
            f"on {stats.shift.shape[0]} features (shift shape {stats.shift.shape})"
        )


def apply_scaling(x: np.ndarray, stats: ScalingStats) -> np.ndarray:
    """Return ``(x - stats.shift) / stats.scale``, a new array of shape ``(N, D)``."""
    x = _as_features(x)
    _check_stats(x, stats)
    return ((x - stats.shift) / stats.scale).astype(_output_dtype(x), copy=False)


def invert_scaling(x_scaled: np.ndarray, stats: ScalingStats) -> np.ndarray:
    """Undo :func:`apply_scaling`: return ``x_scaled * stats.scale + stats.shift``."""
    x_scaled = _as_features(x_scaled, "x_scaled")
    _check_stats(x_scaled, stats)
    return (x_scaled * stats.scale + stats.shift).astype(_output_dtype(x_scaled), copy=False)


class _AffineScaler:
    """Shared bookkeeping of the two scalers; subclasses set ``_fit``."""

    _fit = staticmethod(fit_standard)

    def __init__(self) -> None:
        self.stats_: ScalingStats | None = None
        self.fit_shape_: tuple[int, ...] | None = None

    def fit(self, x: np.ndarray) -> _AffineScaler:
        """Fit the statistics on ``x`` (the training split), shape ``(N, D)``; returns self."""
        x = _as_features(x)
        self.stats_ = self._fit(x)
        self.fit_shape_ = x.shape
        return self

    def _require_fitted(self) -> ScalingStats:
        if self.stats_ is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(x_train) first."
            )
        return self.stats_

    def _fitted_stats(self, x: np.ndarray, name: str) -> ScalingStats:
        stats = self._require_fitted()
        if x.shape[1] != self.fit_shape_[1]:
            raise ValueError(
                f"{name} has shape {x.shape} ({x.shape[1]} features), but this "
                f"{type(self).__name__} was fitted on shape {self.fit_shape_} "
                f"({self.fit_shape_[1]} features)"
            )
        return stats

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(N, D)`` with the fitted statistics."""
        x = _as_features(x)
        return apply_scaling(x, self._fitted_stats(x, "x"))

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``; use only on the training split."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x_scaled: np.ndarray) -> np.ndarray:
        """Map scaled values back to the original units."""
        x_scaled = _as_features(x_scaled, "x_scaled")
        return invert_scaling(x_scaled, self._fitted_stats(x_scaled, "x_scaled"))

    def __repr__(self) -> str:
        state = "unfitted" if self.fit_shape_ is None else f"fitted on shape {self.fit_shape_}"
        return f"{type(self).__name__}({state})"


class StandardScaler(_AffineScaler):
    """z-score standardization, ``x' = (x - mean) / std``, per feature.

    After ``fit``, ``mean_`` and ``scale_`` (shape ``(D,)``) hold the statistics, as in
    scikit-learn. ``transform`` before ``fit`` raises :class:`NotFittedError`.

    Example:
        >>> scaler = StandardScaler().fit(x_train)
        >>> z_train, z_test = scaler.transform(x_train), scaler.transform(x_test)
    """

    _fit = staticmethod(fit_standard)

    @property
    def mean_(self) -> np.ndarray:
        """Per-feature mean of the training data, shape ``(D,)``."""
        return self._require_fitted().shift

    @property
    def scale_(self) -> np.ndarray:
        """Per-feature standard deviation (1 for constant features), shape ``(D,)``."""
        return self._require_fitted().scale


class MinMaxScaler(_AffineScaler):
    """Min-max normalization to [0, 1], ``x' = (x - min) / (max - min)``, per feature.

    After ``fit``, ``data_min_`` and ``data_range_`` (shape ``(D,)``) hold the statistics.
    Test data can fall outside [0, 1]: only the training data is guaranteed inside.
    ``transform`` before ``fit`` raises :class:`NotFittedError`.
    """

    _fit = staticmethod(fit_minmax)

    @property
    def data_min_(self) -> np.ndarray:
        """Per-feature minimum of the training data, shape ``(D,)``."""
        return self._require_fitted().shift

    @property
    def data_range_(self) -> np.ndarray:
        """Per-feature range of the training data (1 for constant features), shape ``(D,)``."""
        return self._require_fitted().scale
