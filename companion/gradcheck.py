"""Numerical gradients by centred differences, and the relative error used to compare them.

A hand-derived backward pass is trusted once it agrees with these to about 1e-7 relative
error in float64. Use float64: with ``h = 1e-5`` the rounding error of a float32 difference
quotient is about ``1e-7 * |f| / h``, i.e. the whole gradient would be noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "relative_error"]


def _check_step(h: float) -> float:
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a positive finite step, got h={h!r}")
    return float(h)


def _check_float64(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be a float64 array for gradient checking, got dtype {x.dtype}; "
            f"cast it with {name}.astype(np.float64)"
        )
    return x


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, *, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function by centred differences, one coordinate at a time.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``, whose error is O(h**2) rather than
    the O(h) of a one-sided difference. ``f`` is evaluated on a private copy of ``x``; the
    caller's array is never modified.

    Args:
        f: Maps an array shaped like ``x`` to a scalar.
        x: Float64 array of any shape, the point where the gradient is taken.
        h: Step size.

    Returns:
        The gradient, float64, shaped like ``x``.

    Raises:
        TypeError: If ``x`` is not float64.
        ValueError: If ``h`` is not positive, or ``f`` does not return a scalar.
    """
    x = _check_float64(x, "x").copy()
    h = _check_step(h)

    def evaluate() -> float:
        value = f(x)
        if np.ndim(value) != 0:
            raise ValueError(
                f"f must return a scalar, got shape {np.shape(value)}; "
                "for an array-valued f use numerical_gradient_array"
            )
        return float(value)

    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = evaluate()
        x[index] = original - h
        f_minus = evaluate()
        x[index] = original  # restore before moving to the next coordinate
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dy: np.ndarray, *, h: float = 1e-5
) -> np.ndarray:
    """Numerical vector-Jacobian product: the gradient of ``sum(f(x) * dy)`` with respect to x.

    This is what a backward pass computes from an upstream gradient ``dy``, so it checks
    one directly (CS231n's ``eval_numerical_gradient_array``).

    Args:
        f: Maps an array shaped like ``x`` to an array shaped like ``dy``.
        x: Float64 array, the point where the gradient is taken (not modified).
        dy: Upstream gradient, float64, the shape of ``f(x)``.
        h: Step size.

    Returns:
        float64 array shaped like ``x``.

    Raises:
        TypeError: If ``x`` or ``dy`` is not float64.
        ValueError: If ``f(x)`` and ``dy`` differ in shape, or ``h`` is not positive.
    """
    dy = _check_float64(dy, "dy")

    def weighted_sum(z: np.ndarray) -> float:
        out = np.asarray(f(z))
        # Broadcasting would silently weight the wrong elements: insist on equal shapes.
        if out.shape != dy.shape:
            raise ValueError(f"f(x) has shape {out.shape} but dy has shape {dy.shape}")
        return float(np.sum(out * dy))

    return numerical_gradient(weighted_sum, x, h=h)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Size of the difference between two arrays relative to their size, in [0, 1].

    ``max|a - b| / max(max(|a| + |b|), tiny)``, with maxima over all elements and ``tiny``
    the smallest positive normal float64 (so two zero arrays give 0, not 0/0). Taking the
    maxima before dividing keeps near-zero entries from inflating the error, as an
    element-wise ratio would. About 1e-7 or less means two float64 gradients agree.

    Args:
        a: Float array.
        b: Float array of the same shape.

    Returns:
        A float: 0 for identical arrays, 1 for ``b = -a`` or ``b = 0`` (with ``a`` nonzero).

    Raises:
        ValueError: If the shapes differ.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b))) / scale
