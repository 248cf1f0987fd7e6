"""Pictures of which values share a mean and variance in each normalization.

:func:`plot_norm_cube` draws a feature-map tensor as a cube of cells, batch ``N`` by channels
``C`` by positions ``H, W`` (flattened into one axis), and colours the cells that are
normalized with the same statistics as one chosen cell, as in Figure 2 of Wu and He (2018).
The colouring is not drawn by hand: it comes from :func:`companion.norms.statistics_index`,
the same layout the NumPy normalizations compute with.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from companion.norms import statistics_index
from companion.plots import COLORS

#: One colour per normalization, used by every figure of the chapter. BN keeps the book's
#: BN colour.
NORM_COLORS: dict[str, str] = {
    "batch": COLORS["bn"],
    "layer": COLORS["accent"],
    "instance": COLORS["extra"],
    "group": COLORS["noisy_bn"],
}

#: ``statistics_index`` arguments for an ``(N, positions, C)`` array, per normalization.
#: ``None`` for ``groups`` means one group per channel; ``"groups"`` is filled in by the caller.
NORM_REDUCTIONS: dict[str, dict] = {
    "batch": {"reduce_axes": (0, 1), "groups": None},
    "layer": {"reduce_axes": (1,), "groups": 1},
    "instance": {"reduce_axes": (1,), "groups": None},
    "group": {"reduce_axes": (1,), "groups": "groups"},
}

_TITLES = {
    "batch": "Batch Norm",
    "layer": "Layer Norm",
    "instance": "Instance Norm",
    "group": "Group Norm",
}


def plot_norm_cube(
    ax: Axes, labels: np.ndarray, *, color: str, entry: tuple[int, int, int] = (0, 0, 0)
) -> Axes:
    """Draw an ``(N, positions, C)`` label array as a cube; shade the cells sharing ``entry``'s.

    Args:
        ax: A 3D axes (``projection="3d"``).
        labels: Int array of shape ``(N, P, C)``: equal labels share a mean and variance
            (from :func:`companion.norms.statistics_index`).
        color: Colour of the shaded cells.
        entry: ``(n, p, c)`` of the cell whose statistic is shown.

    Returns:
        ``ax``.

    Raises:
        ValueError: If ``labels`` is not 3-dimensional or ``entry`` is outside it.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must have shape (N, P, C), got {labels.shape}")
    if len(entry) != 3 or not all(0 <= e < s for e, s in zip(entry, labels.shape, strict=True)):
        raise ValueError(f"entry must index labels of shape {labels.shape}, got {entry}")
    shared = labels == labels[tuple(entry)]
    # Voxel axes: x = C (to the right), y = N (into the page), z = positions (upwards), with
    # example 0 in front and position 0 at the top, as in the paper's figure.
    n, p, c = labels.shape
    cube = np.transpose(shared, (2, 0, 1))[:, :, ::-1]  # (C, N, P), z reversed
    faces = np.empty(cube.shape, dtype=object)
    faces[cube] = color
    faces[~cube] = "#F2F2F2"
    # No shading: a shaded side face would look like a fifth colour.
    ax.voxels(
        np.ones_like(cube), facecolors=faces, edgecolors="#8C8C8C", linewidth=0.4, shade=False
    )
    ax.set_box_aspect((c, n, p))
    ax.view_init(elev=22, azim=-58)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    # Axis names as text in the cube's own coordinates: 3D axis labels drift off the panel.
    ax.text(c / 2, 0, -0.4, "C", ha="center", va="top")
    ax.text(c + 0.4, n / 2, 0, "N", ha="left", va="center")
    ax.text(-0.4, 0, p / 2, "H, W", ha="right", va="center")
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.pane.set_visible(False)
        axis.line.set_visible(False)
    return ax


def norm_cubes_figure(
    *, batch: int = 4, positions: int = 5, channels: int = 6, groups: int = 2
) -> Figure:
    """The four normalizations side by side: Wu and He's Figure 2, drawn from the code.

    Args:
        batch: ``N`` of the drawn tensor.
        positions: ``H * W`` of the drawn tensor.
        channels: ``C``; must be divisible by ``groups``.
        groups: Groups of the group normalization panel.

    Returns:
        A figure with one 3D panel per normalization.
    """
    shape = (batch, positions, channels)
    fig = plt.figure(figsize=(12, 3.2), layout="constrained")
    for i, kind in enumerate(NORM_REDUCTIONS):
        arguments = dict(NORM_REDUCTIONS[kind])
        if arguments["groups"] == "groups":
            arguments["groups"] = groups
        labels = statistics_index(shape, axis=-1, **arguments)
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        plot_norm_cube(ax, labels, color=NORM_COLORS[kind])
        ax.set_title(_TITLES[kind] + (f" ({groups} groups)" if kind == "group" else ""))
    return fig
