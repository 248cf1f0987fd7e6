"""Diagrams drawn with matplotlib: BN's computational graph, residual blocks, BN folding.

Each ``draw_*`` function returns a new ``Figure`` and never calls ``plt.show()``. Boxes
have fixed sizes in data coordinates, so arrows start and end exactly on their borders
whatever the backend. The computational graph's nodes, edges and local gradients come from
:mod:`companion.bn_graph`, where they are also checked against the package's gradients.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from companion.bn_graph import BN_GRAPH_EDGES, BN_GRAPH_NODES, GraphNode
from companion.plots import COLORS

__all__ = [
    "RESIDUAL_ORDERS",
    "draw_backward_graph",
    "draw_folding",
    "draw_residual_blocks",
]

_LIGHT = {"op": "#F2F2F2", "param": "#FFF3D6", "relu": "#FBE3CC", "io": "white"}

_BOX = {"input": (1.3, 0.6), "param": (1.3, 0.6), "op": (1.75, 1.05), "output": (1.9, 1.35)}


# ---------------------------------------------------------------------------------------------
# Drawing primitives
# ---------------------------------------------------------------------------------------------


class _Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float


def _border_point(box: _Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the ray from the box's centre toward ``toward`` leaves the box."""
    dx, dy = toward[0] - box.x, toward[1] - box.y
    scales = [box.w / 2 / abs(dx) if dx else np.inf, box.h / 2 / abs(dy) if dy else np.inf]
    t = min(scales)
    return box.x + t * dx, box.y + t * dy


def _draw_box(
    ax: Axes,
    box: _Box,
    text: str,
    *,
    face: str,
    edge: str = "#333333",
    color: str = "black",
    fontsize: float = 9.0,
) -> FancyBboxPatch:
    patch = FancyBboxPatch(
        (box.x - box.w / 2, box.y - box.h / 2),
        box.w,
        box.h,
        boxstyle="round,pad=0,rounding_size=0.12",
        facecolor=face,
        edgecolor=edge,
        lw=1.1,
    )
    ax.add_patch(patch)
    ax.text(
        box.x,
        box.y,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        color=color,
        linespacing=1.5,
    )
    return patch


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    color: str = "#333333",
    style: str = "-|>",
    lw: float = 1.2,
    connection: str = "arc3",
) -> FancyArrowPatch:
    arrow = FancyArrowPatch(
        start,
        end,
        arrowstyle=style,
        mutation_scale=11,
        color=color,
        lw=lw,
        connectionstyle=connection,
        shrinkA=0,
        shrinkB=0,
    )
    ax.add_patch(arrow)
    return arrow


def _connect(ax: Axes, a: _Box, b: _Box, **kwargs) -> FancyArrowPatch:
    return _arrow(ax, _border_point(a, (b.x, b.y)), _border_point(b, (a.x, a.y)), **kwargs)


def _check_width(width: float) -> float:
    if isinstance(width, bool) or not isinstance(width, numbers.Real):
        raise TypeError(f"width must be a number of inches, got {type(width).__name__}")
    if not 2.0 <= width <= 30.0:
        raise ValueError(f"width must lie between 2 and 30 inches, got width={width!r}")
    return float(width)


def _canvas(width: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    """A figure with one frameless axes whose data units are equal in x and y."""
    width = _check_width(width)
    height = width * (ylim[1] - ylim[0]) / (xlim[1] - xlim[0])
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.patch.set_facecolor("white")
    return fig, ax


# ---------------------------------------------------------------------------------------------
# Chapter 3: the backward pass
# ---------------------------------------------------------------------------------------------


def _graph_box(node: GraphNode) -> _Box:
    w, h = _BOX[node.kind]
    return _Box(node.xy[0], node.xy[1], w, h)


def draw_backward_graph(*, width: float = 9.5) -> Figure:
    """BN's forward computation as a graph, every node labelled with its local gradient.

    Solid arrows are the forward pass. The backward pass walks every arrow in the
    opposite direction and multiplies by the local gradient printed in the arrow's
    target node; where two arrows leave a node (``x`` and ``c``) their contributions add,
    and where a per-feature value (``mu``, ``r``, ``gamma``, ``beta``) fed all ``m``
    examples the gradient is summed over the batch.

    Args:
        width: Figure width in inches (2 to 30).

    Returns:
        The figure.
    """
    fig, ax = _canvas(width, (-0.1, 13.1), (-0.35, 5.35))
    boxes = {node.name: _graph_box(node) for node in BN_GRAPH_NODES}
    faces = {
        "input": _LIGHT["io"],
        "param": _LIGHT["param"],
        "op": _LIGHT["op"],
        "output": _LIGHT["io"],
    }
    for node in BN_GRAPH_NODES:
        text = node.forward if not node.local else f"{node.forward}\n{node.local}"
        edge = COLORS["bn"] if node.kind == "output" else "#333333"
        _draw_box(ax, boxes[node.name], text, face=faces[node.kind], edge=edge, fontsize=8.5)
    for edge in BN_GRAPH_EDGES:
        _connect(ax, boxes[edge.parent], boxes[edge.child], color="#333333")
    # A reading aid: the backward pass walks the same arrows the other way.
    _arrow(ax, (7.9, 4.05), (4.9, 4.05), color=COLORS["extra"], lw=1.6)
    ax.text(
        6.4,
        4.25,
        "backward: walk each arrow in reverse and multiply by\n"
        "the local gradient in the node it points to; add what\n"
        r"arrives along several arrows; start from $\partial\mathcal{L}/\partial y_i$",
        ha="center",
        va="bottom",
        fontsize=8,
        color=COLORS["extra"],
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Chapter 5: residual blocks and folding
# ---------------------------------------------------------------------------------------------

_BLOCK_STYLE = {
    "conv": {"face": _LIGHT["op"]},
    "bn": {"face": COLORS["bn"], "color": "white", "edge": COLORS["bn"]},
    "relu": {"face": _LIGHT["relu"]},
    "io": {"face": _LIGHT["io"]},
}

#: The two orders of a residual block's layers, top to bottom: (kind, label) pairs.
#: ``"add"`` marks where the shortcut joins.
RESIDUAL_ORDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "original": (
        ("io", "input $x$"),
        ("conv", "conv 3×3"),
        ("bn", "BN"),
        ("relu", "ReLU"),
        ("conv", "conv 3×3"),
        ("bn", "BN"),
        ("add", "+"),
        ("relu", "ReLU"),
        ("io", "output"),
    ),
    "pre-activation": (
        ("io", "input $x$"),
        ("bn", "BN"),
        ("relu", "ReLU"),
        ("conv", "conv 3×3"),
        ("bn", "BN"),
        ("relu", "ReLU"),
        ("conv", "conv 3×3"),
        ("add", "+"),
        ("io", "output"),
    ),
}


def _draw_block(
    ax: Axes, x0: float, order: tuple[tuple[str, str], ...], title: str, note: str
) -> dict[str, int]:
    """Draws one block column centred at ``x0``; returns how many boxes of each kind."""
    step, top, w, h = 0.78, 8.0, 1.7, 0.5
    centres = [top - i * step for i in range(len(order))]
    kinds: dict[str, int] = {}
    previous = None
    for (kind, label), y in zip(order, centres, strict=True):
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "add":
            box = _Box(x0, y, 0.42, 0.42)
            ax.add_patch(Circle((x0, y), 0.21, facecolor="white", edgecolor="#333333", lw=1.1))
            ax.text(x0, y, "+", ha="center", va="center", fontsize=13)
            add_box = box
        else:
            box = _Box(x0, y, w, h)
            _draw_box(ax, box, label, **_BLOCK_STYLE[kind])
        if previous is not None:
            _connect(ax, previous, box)
        previous = box
    # The shortcut: from the input's right side, down, into the addition from the right.
    start_y, side = centres[0], x0 + w / 2 + 0.45
    ax.plot([x0 + w / 2, side, side], [start_y, start_y, add_box.y], color="#333333", lw=1.2)
    _arrow(ax, (side, add_box.y), (x0 + add_box.w / 2, add_box.y))
    ax.text(
        side + 0.08,
        (start_y + add_box.y) / 2,
        "identity\nshortcut",
        rotation=90,
        ha="left",
        va="center",
        fontsize=8,
    )
    ax.text(x0 + 0.2, top + 0.75, title, ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.text(x0 + 0.2, centres[-1] - 0.55, note, ha="center", va="top", fontsize=8.5)
    return kinds


def draw_residual_blocks(*, width: float = 7.0) -> Figure:
    """The original residual block next to the pre-activation one.

    Original (He et al., 2016, "Deep residual learning"): conv → BN → ReLU → conv → BN,
    add the shortcut, then ReLU. Pre-activation (He et al., 2016, "Identity mappings"):
    BN → ReLU → conv → BN → ReLU → conv, add the shortcut, nothing after the addition.
    BN boxes are drawn in ``COLORS["bn"]``.

    Args:
        width: Figure width in inches (2 to 30).

    Returns:
        The figure.
    """
    fig, ax = _canvas(width, (-0.3, 7.9), (0.2, 9.3))
    _draw_block(
        ax,
        1.6,
        RESIDUAL_ORDERS["original"],
        "(a) original",
        "ReLU after the addition:\nthe shortcut passes a ReLU",
    )
    _draw_block(
        ax,
        5.6,
        RESIDUAL_ORDERS["pre-activation"],
        "(b) pre-activation",
        "nothing after the addition:\nthe shortcut stays an identity",
    )
    return fig


def draw_folding(*, width: float = 8.0) -> Figure:
    """Folding an inference-mode BN into the affine layer before it.

    Top row: the layer ``z = uW + b`` followed by BN with fixed statistics. Bottom row:
    the single folded layer ``uW' + b'``. On the right, a small kernel ``W`` of shape
    ``(inputs, units)``: folding multiplies its column ``j`` (the weights of output
    channel ``j``) by ``s_j``.

    Args:
        width: Figure width in inches (2 to 30).

    Returns:
        The figure.
    """
    fig, ax = _canvas(width, (-0.2, 12.9), (-0.6, 5.2))
    top, bottom = 4.2, 1.0
    u1, layer, bn, y1 = (
        _Box(0.6, top, 0.9, 0.6),
        _Box(2.9, top, 2.4, 0.9),
        _Box(6.3, top, 3.4, 0.9),
        _Box(8.8, top, 0.9, 0.6),
    )
    _draw_box(ax, u1, "$u$", face="white")
    _draw_box(ax, layer, "Dense / Conv\n$z = uW + b$", face=_LIGHT["op"])
    _draw_box(
        ax,
        bn,
        "BN, inference mode\n"
        r"$y = \gamma\,(z - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$",
        face=COLORS["bn"],
        edge=COLORS["bn"],
        color="white",
    )
    _draw_box(ax, y1, "$y$", face="white")
    for a, b in ((u1, layer), (layer, bn), (bn, y1)):
        _connect(ax, a, b)
    u2, folded, y2 = (
        _Box(0.6, bottom, 0.9, 0.6),
        _Box(4.6, bottom, 4.4, 0.9),
        _Box(8.8, bottom, 0.9, 0.6),
    )
    _draw_box(ax, u2, "$u$", face="white")
    _draw_box(ax, folded, "folded Dense / Conv\n$y = uW' + b'$", face=_LIGHT["op"])
    _draw_box(ax, y2, "$y$", face="white")
    for a, b in ((u2, folded), (folded, y2)):
        _connect(ax, a, b)
    _arrow(ax, (4.6, top - 0.55), (4.6, bottom + 0.55), lw=1.6, color=COLORS["bn"])
    ax.text(
        4.8,
        (top + bottom) / 2 + 0.05,
        "fold (inference only):\n"
        r"$s = \gamma / \sqrt{\sigma^2 + \epsilon}$"
        "\n"
        r"$W' = W\,\mathrm{diag}(s)$"
        "\n"
        r"$b' = s \odot (b - \mu) + \beta$",
        ha="left",
        va="center",
        fontsize=9,
    )
    # The kernel before and after: column j (output channel j) scaled by s_j.
    kernel = np.random.default_rng(0).uniform(0.35, 1.0, (3, 3))
    scale = np.array([1.6, 0.5, 1.0])
    cell, left = 0.55, 10.4
    for centre, matrix, label in ((top, kernel, "$W$"), (bottom, kernel * scale, "$W'$")):
        upper = centre + 1.5 * cell
        for (i, j), value in np.ndenumerate(matrix):
            ax.add_patch(
                plt.Rectangle(
                    (left + j * cell, upper - (i + 1) * cell),
                    cell,
                    cell,
                    facecolor=plt.cm.Blues(min(value / 1.6, 1.0)),
                    edgecolor="white",
                    lw=1.0,
                )
            )
        ax.text(left - 0.12, centre, label, ha="right", va="center", fontsize=10)
    for j, s in enumerate(scale):
        x = left + (j + 0.5) * cell
        _arrow(
            ax,
            (x, top - 1.5 * cell - 0.08),
            (x, bottom + 1.5 * cell + 0.08),
            color=COLORS["bn"],
            lw=1.0,
        )
        ax.text(
            x + 0.04,
            (top + bottom) / 2,
            f"×{s:g}",
            ha="center",
            va="center",
            fontsize=8,
            color=COLORS["bn"],
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    ax.text(
        left + 1.5 * cell,
        bottom - 1.5 * cell - 0.2,
        "column $j$ = output channel $j$",
        ha="center",
        va="top",
        fontsize=8,
    )
    return fig
