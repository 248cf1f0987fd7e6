"""Counting how often a NumPy computation passes over large arrays.

How long a function takes depends on the machine and on whatever else runs on it. How many
times it reads or writes a batch-sized array does not, and for element-wise code such as a
BN backward pass that count is what the time mostly follows: every product, sum or
subtraction over an ``(N, C)`` array is one trip through ``N * C`` numbers in memory, while
arithmetic on the ``(C,)`` per-feature arrays is nearly free.

:func:`count_array_passes` runs a function on instrumented copies of its array arguments
and counts every NumPy ufunc call (``*``, ``+``, ``np.sqrt``, ``np.sum``, ...) that reads
or writes an array of at least ``min_size`` elements.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["PassCount", "count_array_passes"]


class PassCount(NamedTuple):
    """What :func:`count_array_passes` found.

    Attributes:
        total: Number of ufunc calls that touched an array of at least ``min_size`` elements.
        by_operation: The same calls by name, e.g. ``{"multiply": 5, "add.reduce": 2}``
            (``add.reduce`` is ``np.sum``).
        result: What the function returned, with every array as a plain ``np.ndarray``.
    """

    total: int
    by_operation: Counter
    result: Any


def _plain(value: Any) -> Any:
    """Turns instrumented arrays (also inside tuples and lists) back into plain arrays."""
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(_plain(v) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value


def count_array_passes(
    fn: Callable[..., Any], *args: Any, min_size: int, **kwargs: Any
) -> PassCount:
    """Call ``fn(*args, **kwargs)`` and count its ufunc calls on large arrays.

    Every ``np.ndarray`` among ``args`` and ``kwargs``, and inside a ``NamedTuple`` argument
    (such as a BN cache), is replaced by a counting view of the same memory; results of
    counted operations are counting views too, so the count follows the data through the
    whole function. A call counts once when any of its inputs or outputs has at least
    ``min_size`` elements: ``a * b`` on two ``(N, C)`` arrays is one pass, and so is
    ``np.sum(a, axis=0)``, but the same on ``(C,)`` arrays is not counted.

    Operations that are not ufuncs (``astype``, ``reshape``, ``np.broadcast_to``) and
    arrays created inside ``fn`` from scratch (``np.zeros``) are not seen; code that uses
    ``np.asarray`` on its inputs drops the instrumentation (``np.asanyarray`` keeps it).

    Args:
        fn: The function to run.
        *args: Its positional arguments.
        min_size: Smallest number of elements of an array that counts as large, >= 1;
            for a batch of shape ``(N, C)`` pass ``N * C``.
        **kwargs: Its keyword arguments.

    Returns:
        A :class:`PassCount`.

    Raises:
        TypeError: If ``fn`` is not callable or ``min_size`` is not an int.
        ValueError: If ``min_size < 1``.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(min_size, bool) or not isinstance(min_size, numbers.Integral):
        raise TypeError(f"min_size must be an int, got {type(min_size).__name__}: {min_size!r}")
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, got min_size={min_size}")
    counts: Counter = Counter()

    class Counted(np.ndarray):
        """An ndarray view that reports its large ufunc calls to ``counts``."""

        def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
            plain_inputs = [_plain(a) for a in inputs]
            if out is not None:
                kw["out"] = tuple(_plain(o) for o in out)
            result = getattr(ufunc, method)(*plain_inputs, **kw)
            outputs = result if isinstance(result, tuple) else (result,)
            sizes = [np.size(a) for a in (*plain_inputs, *outputs)]
            if max(sizes) >= min_size:
                name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
                counts[name] += 1
            if isinstance(result, tuple):
                return tuple(_counted(r) for r in result)
            return _counted(result)

    def _counted(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.view(Counted)
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*(_counted(v) for v in value))
        return value

    result = fn(*(_counted(a) for a in args), **{name: _counted(v) for name, v in kwargs.items()})
    return PassCount(sum(counts.values()), counts, _plain(result))
