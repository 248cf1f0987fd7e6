"""Plot helpers shared by every chapter.

Helpers return the ``Figure``/``Axes`` they draw on and never call ``plt.show()``.
BN and no-BN runs use the same two colours across the whole book (:data:`COLORS`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: The book's palette (Okabe-Ito, colour-blind safe). ``bn`` and ``no_bn`` never change.
COLORS: dict[str, str] = {
    "bn": "#0072B2",  # blue
    "no_bn": "#D55E00",  # vermillion
    "noisy_bn": "#009E73",  # green
    "reference": "#555555",  # grey
    "accent": "#E69F00",  # orange
    "extra": "#CC79A7",  # purple
}


def new_axes(ncols: int = 1, *, width: float = 4.2, height: float = 3.2) -> tuple[Figure, Any]:
    """Create a figure with ``ncols`` side-by-side axes in the book's size.

    Args:
        ncols: Number of panels in one row.
        width: Width of one panel in inches.
        height: Height of the figure in inches.

    Returns:
        ``(fig, axes)``; ``axes`` is a single ``Axes`` when ``ncols == 1``, else an array.
    """
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), layout="constrained")
    return fig, axes


def label_axes(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> Axes:
    """Label both axes (with units) and optionally set a title; returns ``ax``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_mean_band(
    ax: Axes,
    x: np.ndarray,
    runs: np.ndarray,
    *,
    color: str,
    label: str,
) -> Axes:
    """Plot the mean of several runs with a min-max band.

    Args:
        ax: Axes to draw on.
        x: Shape ``(T,)`` positions on the horizontal axis.
        runs: Shape ``(R, T)``: one row per run (seed).
        color: Line colour, normally from :data:`COLORS`.
        label: Legend label.
    """
    runs = np.asarray(runs, dtype=float)
    x = np.asarray(x)
    if runs.ndim != 2 or runs.shape[1] != x.shape[0]:
        raise ValueError(f"runs must have shape (R, {x.shape[0]}), got {runs.shape}")
    ax.plot(x, runs.mean(axis=0), color=color, label=label)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.2, linewidth=0)
    return ax


def plot_percentiles(
    ax: Axes,
    steps: np.ndarray,
    percentiles: np.ndarray,
    *,
    color: str,
    label: str | None = None,
) -> Axes:
    """Plot the 15th, 50th and 85th percentiles of a quantity over training.

    The median is a solid line, the 15th and 85th percentiles thin lines with the band
    between them shaded, as in Figure 1(b, c) of Ioffe and Szegedy (2015).

    Args:
        ax: Axes to draw on.
        steps: Shape ``(T,)`` training steps.
        percentiles: Shape ``(T, 3)``: the 15th, 50th and 85th percentiles per step.
        color: Line colour, normally from :data:`COLORS`.
        label: Legend label of the median line.
    """
    p = np.asarray(percentiles, dtype=float)
    steps = np.asarray(steps)
    if p.ndim != 2 or p.shape != (steps.shape[0], 3):
        raise ValueError(f"percentiles must have shape ({steps.shape[0]}, 3), got {p.shape}")
    ax.fill_between(steps, p[:, 0], p[:, 2], color=color, alpha=0.15, linewidth=0)
    ax.plot(steps, p[:, 0], color=color, linewidth=0.8)
    ax.plot(steps, p[:, 2], color=color, linewidth=0.8)
    ax.plot(steps, p[:, 1], color=color, linewidth=2.0, label=label)
    return ax
