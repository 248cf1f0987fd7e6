"""Tests of companion.statistics: EMAs, batch noise and population statistics."""

from __future__ import annotations

import numpy as np
import pytest

from companion.statistics import (
    batch_statistics_noise,
    ema_window,
    exponential_moving_average,
    population_statistics,
    steps_to_forget,
    unbiased_variance_factor,
)


def test_ema_matches_a_written_out_loop() -> None:
    values = np.array([1.0, 2.0, 4.0])
    out = exponential_moving_average(values, 0.5, initial=0.0)
    np.testing.assert_allclose(out, [0.5, 1.25, 2.625])


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_ema_is_a_weighted_sum_with_geometric_weights(momentum: float) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 3))
    initial = np.array([1.0, -2.0, 0.5])
    out = exponential_moving_average(values, momentum, initial=initial)
    t = np.arange(50)[::-1]
    weights = (1 - momentum) * momentum**t
    expected = weights @ values + momentum**50 * initial
    np.testing.assert_allclose(out[-1], expected, rtol=1e-12, atol=1e-12)


def test_ema_of_a_constant_converges_to_it_and_does_not_mutate_input() -> None:
    values = np.full((2000, 2), 3.0)
    out = exponential_moving_average(values, 0.99, initial=1.0)
    np.testing.assert_allclose(out[-1], 3.0, rtol=1e-8)
    assert np.all(values == 3.0)


def test_ema_reaches_63_percent_of_a_step_after_about_one_window() -> None:
    momentum = 0.95
    out = exponential_moving_average(np.ones(200), momentum)
    first = int(np.argmax(out >= 1 - np.exp(-1)))
    assert abs((first + 1) - ema_window(momentum)) <= 1.0


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_ema_rejects_bad_momentum(momentum: float) -> None:
    with pytest.raises(ValueError, match="momentum"):
        exponential_moving_average(np.ones(3), momentum)


def test_ema_rejects_empty_and_non_numeric() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        exponential_moving_average(np.ones(0), 0.9)
    with pytest.raises(TypeError, match="momentum"):
        exponential_moving_average(np.ones(3), "0.9")  # type: ignore[arg-type]


@pytest.mark.parametrize("momentum", [0.9, 0.99, 0.999])
@pytest.mark.parametrize("fraction", [0.5, 0.01])
def test_steps_to_forget_is_the_smallest_such_integer(momentum: float, fraction: float) -> None:
    k = steps_to_forget(momentum, fraction)
    assert momentum**k <= fraction < momentum ** (k - 1)


def test_steps_to_forget_known_value_and_errors() -> None:
    assert steps_to_forget(0.99, 0.01) == 459
    assert ema_window(0.9) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="fraction"):
        steps_to_forget(0.9, 1.0)


def test_unbiased_variance_factor() -> None:
    assert unbiased_variance_factor(2) == 2.0
    np.testing.assert_allclose(unbiased_variance_factor(np.array([4, 11])), [4 / 3, 1.1])
    with pytest.raises(ValueError, match="at least 2"):
        unbiased_variance_factor(1)


def test_batch_noise_shrinks_like_one_over_sqrt_m() -> None:
    data = np.random.default_rng(1).normal(2.0, 3.0, size=20_000)
    noise = batch_statistics_noise(data, [4, 16, 64], num_batches=3000, seed=0)
    assert noise.mean_std.shape == (3, 1)
    np.testing.assert_allclose(noise.mean_std[:, 0], 3.0 / np.sqrt([4, 16, 64]), rtol=0.08)
    # The biased batch variance is too small on average by the factor (m - 1) / m.
    np.testing.assert_allclose(
        noise.variance_mean[:, 0], 9.0 * np.array([3, 15, 63]) / [4, 16, 64], rtol=0.05
    )
    assert np.all(np.diff(noise.variance_std[:, 0]) < 0)


def test_batch_noise_draws_distinct_rows() -> None:
    # With m = N every batch is the whole data set: no scatter at all.
    data = np.arange(10.0)
    noise = batch_statistics_noise(data, [10], num_batches=5)
    assert noise.mean_std[0, 0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(noise.variance_mean[0, 0], data.var())


def test_batch_noise_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="batch_sizes"):
        batch_statistics_noise(np.ones(5), [1])
    with pytest.raises(ValueError, match="batch_sizes"):
        batch_statistics_noise(np.ones(5), [6])
    with pytest.raises(ValueError, match="data"):
        batch_statistics_noise(np.ones((2, 2, 2)), [2])


def test_population_statistics_are_close_to_the_full_data_statistics() -> None:
    data = np.random.default_rng(2).normal([1.0, -5.0], [2.0, 0.5], size=(4096, 2))
    mean, var = population_statistics(data, 8, seed=0)
    np.testing.assert_allclose(mean, data.mean(axis=0), rtol=1e-12)  # 4096 = 512 * 8
    # Unbiased: within sampling error of the full-data variance (not 7/8 of it).
    np.testing.assert_allclose(var, data.var(axis=0), rtol=0.03)


def test_population_statistics_rejects_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        population_statistics(np.ones(4), 1)
