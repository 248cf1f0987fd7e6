"""Tests of companion.diagrams: boxes hold their text, arrows meet their boxes, orders match."""

from __future__ import annotations

import keras
import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from companion.bn_graph import BN_GRAPH_EDGES, BN_GRAPH_NODES
from companion.diagrams import (
    RESIDUAL_ORDERS,
    draw_backward_graph,
    draw_folding,
    draw_residual_blocks,
)
from companion.placement import residual_block
from companion.plots import COLORS

DRAW = [draw_backward_graph, draw_residual_blocks, draw_folding]


@pytest.mark.parametrize("draw", DRAW)
def test_drawings_are_figures_and_never_show(draw, monkeypatch) -> None:
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() was called"))
    fig = draw()
    assert isinstance(fig, Figure)
    plt.close(fig)


@pytest.mark.parametrize("draw", DRAW)
def test_every_text_fits_inside_its_box(draw) -> None:
    fig = draw()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    inside = 0
    for text in ax.texts:
        extent = text.get_window_extent(renderer)
        centre = ((extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2)
        for box in boxes:
            if box.contains(*centre):
                inside += 1
                assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()
                assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()
    assert inside == len(boxes)  # every box holds exactly one text
    plt.close(fig)


def test_graph_arrows_start_and_end_on_box_borders() -> None:
    fig = draw_backward_graph()
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(BN_GRAPH_EDGES) + 1  # one extra: the backward reading aid
    nodes = {node.name: node for node in BN_GRAPH_NODES}
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(BN_GRAPH_NODES)

    def on_border(point, node) -> bool:
        patch = boxes[list(nodes).index(node.name)]
        x0, y0 = patch.get_x(), patch.get_y()
        x1, y1 = x0 + patch.get_width(), y0 + patch.get_height()
        inside = x0 - 1e-9 <= point[0] <= x1 + 1e-9 and y0 - 1e-9 <= point[1] <= y1 + 1e-9
        edge = min(abs(point[0] - x0), abs(point[0] - x1), abs(point[1] - y0), abs(point[1] - y1))
        return inside and edge < 1e-9

    for arrow, edge in zip(arrows, BN_GRAPH_EDGES, strict=False):
        start, end = arrow._posA_posB
        assert on_border(start, nodes[edge.parent]) and on_border(end, nodes[edge.child])
    plt.close(fig)


def _kind(layer) -> str | None:
    kinds = {
        keras.layers.Conv2D: "conv",
        keras.layers.BatchNormalization: "bn",
        keras.layers.ReLU: "relu",
        keras.layers.Add: "add",
    }
    return next((k for cls, k in kinds.items() if isinstance(layer, cls)), None)


def test_original_order_is_the_packages_residual_block() -> None:
    inputs = keras.Input((6, 6, 8))
    block = keras.Model(inputs, residual_block(inputs, 8))
    package = [_kind(layer) for layer in block.layers if _kind(layer)]
    drawn = [kind for kind, _ in RESIDUAL_ORDERS["original"] if kind != "io"]
    assert package == drawn


def test_residual_drawing_colours_bn_boxes() -> None:
    fig = draw_residual_blocks()
    faces = [
        matplotlib.colors.to_hex(p.get_facecolor())
        for p in fig.axes[0].patches
        if isinstance(p, FancyBboxPatch)
    ]
    expected = sum(kind == "bn" for order in RESIDUAL_ORDERS.values() for kind, _ in order)
    assert faces.count(COLORS["bn"].lower()) == expected == 4
    pre = [kind for kind, _ in RESIDUAL_ORDERS["pre-activation"]]
    assert pre[pre.index("add") + 1] == "io"  # nothing between the addition and the output
    plt.close(fig)


@pytest.mark.parametrize("draw", DRAW)
def test_bad_width(draw) -> None:
    with pytest.raises(ValueError, match="width=0.5"):
        draw(width=0.5)
    with pytest.raises(TypeError, match="got str"):
        draw(width="7")
