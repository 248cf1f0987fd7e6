"""Tests of companion.gradcheck: centred differences and the relative error."""

from __future__ import annotations

import numpy as np
import pytest

from companion.gradcheck import numerical_gradient, numerical_gradient_array, relative_error


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_numerical_gradient_of_cubes_is_three_x_squared(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    grad = numerical_gradient(lambda z: np.sum(z**3), x)
    assert grad.shape == x.shape
    assert relative_error(grad, 3 * x**2) < 1e-8


def test_numerical_gradient_of_sine():
    x = np.random.default_rng(1).uniform(-3, 3, size=(4, 3))
    assert relative_error(numerical_gradient(lambda z: np.sum(np.sin(z)), x), np.cos(x)) < 1e-8


def test_numerical_gradient_array_of_linear_map_is_transpose_times_dy():
    rng = np.random.default_rng(2)
    a, x, dy = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(3)
    assert relative_error(numerical_gradient_array(lambda z: a @ z, x, dy), a.T @ dy) < 1e-9


def test_caller_array_is_neither_modified_nor_handed_to_f():
    x = np.random.default_rng(3).standard_normal((3, 2))
    before = x.copy()
    x.flags.writeable = False  # any write to the caller's array would raise

    def f(z: np.ndarray) -> float:
        assert z is not x
        return float(np.sum(z**2))

    grad = numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)
    assert relative_error(grad, 2 * before) < 1e-9


def test_each_coordinate_is_restored_after_its_step():
    x = np.arange(4.0)
    seen = []
    numerical_gradient(lambda z: seen.append(z.copy()) or 0.0, x, h=0.5)
    # Two evaluations per coordinate; each differs from x in that coordinate only.
    assert len(seen) == 2 * x.size
    for i in range(x.size):
        for sign, z in zip((1, -1), seen[2 * i : 2 * i + 2], strict=True):
            expected = x.copy()
            expected[i] += sign * 0.5
            np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.bool_])
def test_non_float64_input_is_refused(dtype):
    x = np.ones(3, dtype=dtype)
    with pytest.raises(TypeError, match=rf"x must be a float64 array.*got dtype {np.dtype(dtype)}"):
        numerical_gradient(np.sum, x)


def test_non_float64_dy_is_refused():
    with pytest.raises(TypeError, match=r"dy must be a float64 array.*float32"):
        numerical_gradient_array(lambda z: z, np.ones(3), np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("h", [0.0, -1e-5, float("nan")])
def test_bad_step_is_refused(h):
    with pytest.raises(ValueError, match=rf"h must be a positive.*h={h!r}"):
        numerical_gradient(np.sum, np.ones(3), h=h)


def test_array_valued_f_is_refused_by_scalar_version():
    with pytest.raises(ValueError, match=r"f must return a scalar, got shape \(3,\)"):
        numerical_gradient(lambda z: z * 2, np.ones(3))


def test_dy_shape_must_match_f_output():
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\) but dy has shape \(1,\)"):
        numerical_gradient_array(lambda z: z * 2, np.ones(3), np.ones(1))


def test_relative_error_is_zero_for_equal_arrays_and_for_zeros():
    a = np.random.default_rng(4).standard_normal((3, 3))
    assert relative_error(a, a.copy()) == 0.0
    assert relative_error(np.zeros(4), np.zeros(4)) == 0.0


def test_relative_error_formula_and_bounds():
    a = np.array([1.0, -2.0, 3.0])
    b = np.array([1.5, -2.0, 2.0])
    # max|a - b| = 1.0, max(|a| + |b|) = 5.0
    assert relative_error(a, b) == pytest.approx(0.2)
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(a, np.zeros(3)) == pytest.approx(1.0)


def test_relative_error_is_symmetric_scale_invariant_and_at_most_one():
    rng = np.random.default_rng(5)
    for _ in range(20):
        a, b = rng.standard_normal((2, 6)) * rng.uniform(1e-6, 1e6)
        err = relative_error(a, b)
        assert 0.0 <= err <= 1.0
        assert relative_error(b, a) == err
        assert relative_error(1e3 * a, 1e3 * b) == pytest.approx(err, rel=1e-12)


def test_relative_error_ignores_tiny_entries_that_an_elementwise_ratio_would_blow_up():
    a = np.array([1.0, 1e-12])
    b = np.array([1.0, 2e-12])
    assert relative_error(a, b) < 1e-11


def test_relative_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(2,\)"):
        relative_error(np.ones(3), np.ones(2))
