"""Tests of companion.opcount: counting a NumPy computation's passes over large arrays."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from companion.numpy_bn import batch_norm_backward, batch_norm_backward_graph, batch_norm_forward
from companion.opcount import count_array_passes


class _Pair(NamedTuple):
    big: np.ndarray
    small: np.ndarray


def test_counts_large_operations_only() -> None:
    a, b, v = np.ones((6, 4)), np.full((6, 4), 2.0), np.arange(4.0)

    def f(a, b, v):
        w = v * 2.0 + 1.0  # (4,): two small operations, not counted
        return (a * b - w).sum(axis=0)  # multiply, subtract, add.reduce: three passes

    count = count_array_passes(f, a, b, v, min_size=24)
    assert count.total == 3
    assert count.by_operation == {"multiply": 1, "subtract": 1, "add.reduce": 1}
    np.testing.assert_array_equal(count.result, f(a, b, v))
    assert type(count.result) is np.ndarray  # the instrumentation does not leak out


def test_results_of_counted_operations_stay_counted() -> None:
    x = np.ones((10, 3))

    def chain(x):
        y = x + 1.0
        z = np.sqrt(y)  # y came out of a counted operation: still instrumented
        return np.exp(z) * 0.5

    assert count_array_passes(chain, x, min_size=30).total == 4


def test_namedtuple_and_keyword_arguments_are_instrumented() -> None:
    pair = _Pair(np.ones((5, 5)), np.ones(5))

    def f(p, *, scale):
        return p.big * p.small * scale

    count = count_array_passes(f, pair, scale=np.ones((5, 5)), min_size=25)
    assert count.total == 2
    assert type(pair.big) is np.ndarray  # the caller's arrays are untouched


def test_bn_backward_passes() -> None:
    rng = np.random.default_rng(0)
    x, dy = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
    _, cache = batch_norm_forward(x, rng.normal(size=8), rng.normal(size=8))
    closed = count_array_passes(batch_norm_backward, dy, cache, min_size=x.size)
    graph = count_array_passes(batch_norm_backward_graph, dy, cache, min_size=x.size)
    # Closed form: 2 sums (dbeta, dgamma) + dy * x_hat, m * dy, two subtractions,
    # x_hat * dgamma and the final scaling.
    assert closed.total == 8 and closed.by_operation["add.reduce"] == 2
    assert graph.total == 12 and graph.by_operation["add.reduce"] == 4
    for counted, plain in zip(closed.result, batch_norm_backward(dy, cache), strict=True):
        np.testing.assert_array_equal(counted, plain)
    for counted, plain in zip(graph.result, batch_norm_backward_graph(dy, cache), strict=True):
        np.testing.assert_array_equal(counted, plain)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="callable"):
        count_array_passes(3, min_size=1)
    with pytest.raises(TypeError, match="min_size must be an int, got str"):
        count_array_passes(abs, 1.0, min_size="4")
    with pytest.raises(ValueError, match="min_size=0"):
        count_array_passes(abs, 1.0, min_size=0)
