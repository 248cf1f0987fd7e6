"""Full-batch gradient descent on a least-squares loss, and the quadratic theory behind it.

Chapter 1 uses it to show why feature scales matter. The model is linear regression with a
bias, ``y_hat = a @ theta`` where ``a = with_bias(x)`` is the design matrix ``(N, P)`` (the
features plus a column of ones) and ``theta`` has shape ``(P,)`` (weights, then the bias).
The loss

    L(theta) = mean((a @ theta - y) ** 2) / 2

is quadratic, with the constant Hessian ``H = a.T @ a / N``. Everything about plain
gradient descent on it follows from H's eigenvalues: the largest stable learning rate is
``2 / lambda_max`` and the slowest direction shrinks by ``1 - lr * lambda_min`` per step,
so the number of steps grows with the condition number ``lambda_max / lambda_min``.

Every function is pure: arguments are never modified.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Descent",
    "condition_number",
    "run_gradient_descent",
    "largest_stable_learning_rate",
    "least_squares_gradient",
    "least_squares_hessian",
    "least_squares_loss",
    "least_squares_solution",
    "loss_grid",
    "quadratic_excess_loss",
    "steps_to_reach",
    "with_bias",
]


class Descent(NamedTuple):
    """The result of :func:`run_gradient_descent`.

    Attributes:
        theta: Final parameters, shape ``(P,)``.
        losses: Loss before each step and after the last, shape ``(T + 1,)``; shorter when
            the run diverged.
        path: Parameters at the same moments, shape ``(T + 1, P)``.
        diverged: True if the loss became non-finite or grew beyond ``1e12`` times its start.
    """

    theta: np.ndarray
    losses: np.ndarray
    path: np.ndarray
    diverged: bool


def _matrix(a: np.ndarray, name: str = "a") -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, P) with N, P >= 1, got {a.shape}")
    return a.astype(np.float64)


def _targets(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (a.shape[0],):
        raise ValueError(f"y must have shape ({a.shape[0]},) to match a {a.shape}, got {y.shape}")
    return y


def with_bias(x: np.ndarray) -> np.ndarray:
    """The design matrix: ``x`` of shape ``(N, D)`` with a column of ones appended, ``(N, D+1)``."""
    x = _matrix(x, "x")
    return np.column_stack([x, np.ones(x.shape[0])])


def least_squares_loss(theta: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
    """``mean((a @ theta - y) ** 2) / 2`` for parameters ``theta`` of shape ``(P,)``."""
    a = _matrix(a)
    residual = a @ np.asarray(theta, dtype=np.float64) - _targets(a, y)
    return 0.5 * float(np.mean(residual**2))


def least_squares_gradient(theta: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of :func:`least_squares_loss` with respect to ``theta``: ``a.T @ r / N``."""
    a = _matrix(a)
    residual = a @ np.asarray(theta, dtype=np.float64) - _targets(a, y)
    return a.T @ residual / a.shape[0]


def least_squares_hessian(a: np.ndarray) -> np.ndarray:
    """The (constant) Hessian of :func:`least_squares_loss`: ``a.T @ a / N``, shape ``(P, P)``."""
    a = _matrix(a)
    return a.T @ a / a.shape[0]


def least_squares_solution(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimizer ``theta*`` of :func:`least_squares_loss`, shape ``(P,)`` (via lstsq)."""
    a = _matrix(a)
    theta, *_ = np.linalg.lstsq(a, _targets(a, y), rcond=None)
    return theta


def _eigenvalues(hessian: np.ndarray) -> np.ndarray:
    h = _matrix(hessian, "hessian")
    if h.shape[0] != h.shape[1] or not np.allclose(h, h.T):
        raise ValueError(f"hessian must be a symmetric square matrix, got shape {h.shape}")
    return np.linalg.eigvalsh(h)


def condition_number(hessian: np.ndarray) -> float:
    """``lambda_max / lambda_min`` of a symmetric positive semi-definite matrix.

    Returns ``inf`` when the smallest eigenvalue is 0 (or rounds below 0): the loss is flat
    along some direction and gradient descent never converges along it.
    """
    eigenvalues = _eigenvalues(hessian)
    if eigenvalues[0] <= 0:
        return float("inf")
    return float(eigenvalues[-1] / eigenvalues[0])


def largest_stable_learning_rate(hessian: np.ndarray) -> float:
    """``2 / lambda_max``: gradient descent on the quadratic diverges for any larger rate."""
    return float(2.0 / _eigenvalues(hessian)[-1])


def run_gradient_descent(
    a: np.ndarray,
    y: np.ndarray,
    *,
    learning_rate: float,
    steps: int,
    theta0: np.ndarray | None = None,
) -> Descent:
    """Full-batch gradient descent ``theta <- theta - lr * grad`` on the least-squares loss.

    Args:
        a: Design matrix, shape ``(N, P)`` (see :func:`with_bias`).
        y: Targets, shape ``(N,)``.
        learning_rate: The step size, one number for every direction.
        steps: Number of updates ``T``.
        theta0: Starting parameters, shape ``(P,)``; zeros by default.

    Returns:
        A :class:`Descent`; ``losses[t]`` is the loss after ``t`` steps.
    """
    a = _matrix(a)
    y = _targets(a, y)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    theta = np.zeros(a.shape[1]) if theta0 is None else np.array(theta0, dtype=np.float64)
    if theta.shape != (a.shape[1],):
        raise ValueError(f"theta0 must have shape ({a.shape[1]},), got {theta.shape}")
    n = a.shape[0]
    losses, path, diverged = [], [theta], False
    residual = a @ theta - y
    losses.append(0.5 * residual @ residual / n)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            theta = theta - learning_rate * (a.T @ residual) / n
            residual = a @ theta - y
            losses.append(0.5 * residual @ residual / n)
            path.append(theta)
            if not np.isfinite(losses[-1]) or losses[-1] > 1e12 * losses[0]:
                diverged = True
                break
    return Descent(theta, np.array(losses), np.array(path), diverged)


def steps_to_reach(losses: np.ndarray, target: float) -> int | None:
    """The first step ``t`` with ``losses[t] <= target``, or None if the run never got there."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1:
        raise ValueError(f"losses must be 1-D, got shape {losses.shape}")
    below = np.flatnonzero(losses <= target)
    return int(below[0]) if below.size else None


def quadratic_excess_loss(
    hessian: np.ndarray, error0: np.ndarray, learning_rate: float, steps: np.ndarray
) -> np.ndarray:
    """Closed-form ``L(theta_t) - L(theta*)`` of gradient descent on a quadratic loss.

    In the eigenbasis of H each error component shrinks by ``(1 - lr * lambda_i)`` per step,
    so ``L_t - L* = sum_i lambda_i / 2 * (1 - lr * lambda_i) ** (2 t) * e_i ** 2``.

    Args:
        hessian: The Hessian H, shape ``(P, P)``.
        error0: The starting error ``theta_0 - theta*``, shape ``(P,)``.
        learning_rate: The step size.
        steps: Step counts ``t`` (any shape); may be far larger than one would simulate.

    Returns:
        The excess loss after each number of steps, with the shape of ``steps``.
    """
    eigenvalues, vectors = np.linalg.eigh(_matrix(hessian, "hessian"))
    e = vectors.T @ np.asarray(error0, dtype=np.float64)
    t = np.asarray(steps, dtype=np.float64)[..., None]
    factor = np.abs(1.0 - learning_rate * eigenvalues) ** (2.0 * t)
    return np.sum(0.5 * eigenvalues * e**2 * factor, axis=-1)


def loss_grid(
    a: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    axes: tuple[int, int],
    values: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """The loss on a 2-D slice of parameter space, for contour plots.

    Parameters ``axes = (i, j)`` take every combination of ``values = (u, v)``; all other
    parameters stay at ``theta``.

    Returns:
        Array of shape ``(len(v), len(u))``: row ``r``, column ``c`` is the loss at
        ``theta[i] = u[c], theta[j] = v[r]`` (the layout ``plt.contour(u, v, grid)`` expects).
    """
    a = _matrix(a)
    y = _targets(a, y)
    i, j = axes
    u, v = (np.asarray(values[0], dtype=np.float64), np.asarray(values[1], dtype=np.float64))
    thetas = np.tile(np.asarray(theta, dtype=np.float64), (v.size, u.size, 1))
    thetas[..., i] = u[None, :]
    thetas[..., j] = v[:, None]
    # The loss expanded as a quadratic form needs O(P^2) memory per grid point instead of
    # O(N) for the residuals, so fine grids stay cheap.
    n = a.shape[0]
    quadratic = np.einsum("...p,pq,...q->...", thetas, a.T @ a / n, thetas)
    return 0.5 * quadratic - thetas @ (a.T @ y / n) + 0.5 * float(y @ y) / n
