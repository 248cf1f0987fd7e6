"""companion.gradient_descent: the least-squares loss, its Hessian and gradient descent on it."""

from __future__ import annotations

import numpy as np
import pytest

from companion import gradient_descent as gd
from companion.data import load_wine_split
from companion.preprocessing import StandardScaler


def problem(n: int = 40, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.array([1.0, 5.0, 0.3, 2.0])[:d]
    y = x @ rng.normal(size=d) + 0.5 + 0.1 * rng.normal(size=n)
    return gd.with_bias(x), y


def numerical_gradient(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def test_with_bias_appends_a_column_of_ones() -> None:
    a = gd.with_bias(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(a, [[0, 1, 1], [2, 3, 1], [4, 5, 1]])


@pytest.mark.parametrize("d", [1, 3])
def test_gradient_matches_numerical_gradient(d: int) -> None:
    a, y = problem(d=d)
    theta = np.random.default_rng(1).normal(size=d + 1)
    expected = numerical_gradient(lambda t: gd.least_squares_loss(t, a, y), theta)
    np.testing.assert_allclose(gd.least_squares_gradient(theta, a, y), expected, rtol=1e-6)


def test_hessian_matches_numerical_derivative_of_gradient() -> None:
    a, y = problem()
    theta = np.zeros(a.shape[1])
    rows = [
        numerical_gradient(lambda t, i=i: gd.least_squares_gradient(t, a, y)[i], theta)
        for i in range(a.shape[1])
    ]
    np.testing.assert_allclose(gd.least_squares_hessian(a), np.array(rows), rtol=1e-6)


def test_solution_has_zero_gradient_and_lowest_loss() -> None:
    a, y = problem()
    best = gd.least_squares_solution(a, y)
    np.testing.assert_allclose(gd.least_squares_gradient(best, a, y), 0.0, atol=1e-12)
    nudged = best + 1e-3 * np.random.default_rng(2).normal(size=best.size)
    assert gd.least_squares_loss(nudged, a, y) > gd.least_squares_loss(best, a, y)


def test_condition_number_and_stable_learning_rate() -> None:
    h = np.diag([0.5, 2.0, 50.0])
    assert gd.condition_number(h) == pytest.approx(100.0)
    assert gd.largest_stable_learning_rate(h) == pytest.approx(2.0 / 50.0)
    assert gd.condition_number(np.diag([1.0, 0.0])) == float("inf")
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
    assert gd.condition_number(rotation @ h @ rotation.T) == pytest.approx(100.0)


def test_learning_rate_beyond_two_over_lambda_max_diverges() -> None:
    a, y = problem()
    limit = gd.largest_stable_learning_rate(gd.least_squares_hessian(a))
    stable = gd.run_gradient_descent(a, y, learning_rate=0.98 * limit, steps=3000)
    unstable = gd.run_gradient_descent(a, y, learning_rate=1.02 * limit, steps=3000)
    best = gd.least_squares_loss(gd.least_squares_solution(a, y), a, y)
    assert not stable.diverged and stable.losses[-1] == pytest.approx(best, rel=1e-6)
    assert unstable.diverged and unstable.losses[-1] > 1e12 * unstable.losses[0]
    assert len(unstable.losses) < 3001


def test_descent_records_history_and_does_not_mutate_theta0() -> None:
    a, y = problem()
    theta0 = np.ones(a.shape[1])
    copy = theta0.copy()
    run = gd.run_gradient_descent(a, y, learning_rate=0.01, steps=25, theta0=theta0)
    np.testing.assert_array_equal(theta0, copy)
    assert run.losses.shape == (26,) and run.path.shape == (26, a.shape[1])
    np.testing.assert_array_equal(run.path[0], theta0)
    np.testing.assert_array_equal(run.path[-1], run.theta)
    for t in (0, 7, 25):
        assert run.losses[t] == pytest.approx(gd.least_squares_loss(run.path[t], a, y))
    assert np.all(np.diff(run.losses) < 0)  # a small enough step always lowers the loss


def test_closed_form_excess_loss_matches_simulation() -> None:
    a, y = problem()
    h = gd.least_squares_hessian(a)
    best = gd.least_squares_solution(a, y)
    lr = 0.5 * gd.largest_stable_learning_rate(h)
    run = gd.run_gradient_descent(a, y, learning_rate=lr, steps=200)
    predicted = gd.quadratic_excess_loss(h, -best, lr, np.arange(201))
    excess = run.losses - gd.least_squares_loss(best, a, y)
    np.testing.assert_allclose(predicted, excess, rtol=1e-6, atol=1e-12)


def test_steps_to_reach() -> None:
    losses = np.array([5.0, 3.0, 2.0, 1.0, 1.5])
    assert gd.steps_to_reach(losses, 2.0) == 2
    assert gd.steps_to_reach(losses, 5.0) == 0
    assert gd.steps_to_reach(losses, 0.5) is None
    with pytest.raises(ValueError, match="losses must be 1-D"):
        gd.steps_to_reach(np.ones((2, 2)), 1.0)


def test_loss_grid_layout_matches_pointwise_loss() -> None:
    a, y = problem()
    theta = np.array([0.1, -0.2, 0.3, 0.4])
    u, v = np.linspace(-1, 1, 5), np.linspace(0, 2, 3)
    grid = gd.loss_grid(a, y, theta, (0, 2), (u, v))
    assert grid.shape == (3, 5)
    point = theta.copy()
    point[0], point[2] = u[4], v[1]
    assert grid[1, 4] == pytest.approx(gd.least_squares_loss(point, a, y), rel=1e-10)


def test_standardizing_wine_features_shrinks_the_condition_number() -> None:
    x = load_wine_split().x_train
    raw = gd.condition_number(gd.least_squares_hessian(gd.with_bias(x)))
    standardized = gd.condition_number(
        gd.least_squares_hessian(gd.with_bias(StandardScaler().fit_transform(x)))
    )
    assert raw > 1e8 and standardized < 100


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"learning_rate": 0.0, "steps": 3}, ValueError, "learning_rate must be positive"),
        ({"learning_rate": 0.1, "steps": -1}, ValueError, "steps must be a non-negative int"),
        ({"learning_rate": 0.1, "steps": 2.5}, ValueError, "steps must be a non-negative int"),
        ({"learning_rate": 0.1, "steps": 3, "theta0": np.zeros(2)}, ValueError,
         r"theta0 must have shape \(4,\), got \(2,\)"),
    ],
)  # fmt: skip
def test_gradient_descent_rejects_bad_arguments(kwargs, error, message) -> None:
    a, y = problem()
    with pytest.raises(error, match=message):
        gd.run_gradient_descent(a, y, **kwargs)


def test_bad_arrays_are_rejected() -> None:
    a, y = problem()
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        gd.least_squares_loss(np.zeros(4), a, y[:-1])
    with pytest.raises(TypeError, match="x must be a real numeric array, got dtype <U1"):
        gd.with_bias(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"x must have shape \(N, P\)"):
        gd.with_bias(np.ones(3))
    with pytest.raises(ValueError, match="hessian must be a symmetric square matrix"):
        gd.condition_number(np.array([[1.0, 2.0], [0.0, 1.0]]))
