"""BN's training-mode forward pass as a computational graph, and backprop through it.

The graph is data: nine operation nodes, numbered as in
:func:`~companion.numpy_bn.batch_norm_backward_graph`, plus the inputs ``x``, ``gamma``
and ``beta`` (:data:`BN_GRAPH_NODES`), and edges that carry the local gradient of the child
with respect to the parent (:data:`BN_GRAPH_EDGES`). :func:`backward_through_graph` runs
reverse-mode differentiation over exactly that data, and
:func:`companion.diagrams.draw_backward_graph` draws it, printing the same local
gradients, so a test can check the picture against the package's backward passes.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "BN_GRAPH_EDGES",
    "BN_GRAPH_NODES",
    "GraphEdge",
    "GraphNode",
    "backward_through_graph",
]


class GraphNode(NamedTuple):
    """A node of BN's forward graph.

    Attributes:
        name: Key used by the edges.
        forward: Mathtext of what the node computes.
        local: Mathtext of its local gradient(s) with respect to its inputs ("" for inputs).
        xy: Centre of its box in the diagram's data coordinates.
        kind: ``"input"``, ``"param"``, ``"op"`` or ``"output"`` (sets the colours).
    """

    name: str
    forward: str
    local: str
    xy: tuple[float, float]
    kind: str


class GraphEdge(NamedTuple):
    """An edge ``parent -> child`` and the local gradient d child / d parent.

    ``local(v)`` gets the dict of forward values (per-feature values have shape ``(1, C)``)
    and returns the local derivative, broadcastable to the larger of the two shapes.
    """

    parent: str
    child: str
    local: Callable[[dict], np.ndarray | float]


#: The nine operations of :func:`~companion.numpy_bn.batch_norm_backward_graph`, plus the
#: inputs ``x`` (shape ``(m, C)``), ``gamma`` and ``beta``; every parent comes before its
#: children.
BN_GRAPH_NODES: tuple[GraphNode, ...] = (
    GraphNode("x", r"input $x_i$", r"$i = 1, \dots, m$", (0.9, 2.6), "input"),
    GraphNode("gamma", r"scale $\gamma$", "", (10.0, 4.6), "param"),
    GraphNode("beta", r"shift $\beta$", "", (12.0, 4.6), "param"),
    GraphNode(
        "mu",
        r"1. $\mu_B = \frac{1}{m}\,\Sigma_i\, x_i$",
        r"$\partial\mu_B/\partial x_i = 1/m$",
        (2.6, 4.6),
        "op",
    ),
    GraphNode(
        "xc",
        r"2. $c_i = x_i - \mu_B$",
        r"$\partial c_i/\partial x_i = 1$" "\n" r"$\partial c_i/\partial\mu_B = -1$",
        (4.3, 2.6),
        "op",
    ),
    GraphNode("sq", r"3. $q_i = c_i^2$", r"$\partial q_i/\partial c_i = 2c_i$", (2.3, 0.6), "op"),
    GraphNode(
        "var",
        r"4. $\sigma_B^2 = \frac{1}{m}\,\Sigma_i\, q_i$",
        r"$\partial\sigma_B^2/\partial q_i = 1/m$",
        (4.45, 0.6),
        "op",
    ),
    GraphNode(
        "var_eps",
        r"5. $v = \sigma_B^2 + \epsilon$",
        r"$\partial v/\partial\sigma_B^2 = 1$",
        (6.6, 0.6),
        "op",
    ),
    GraphNode("std", r"6. $s = \sqrt{v}$", r"$\partial s/\partial v = 1/(2s)$", (8.75, 0.6), "op"),
    GraphNode("inv_std", r"7. $r = 1/s$", r"$\partial r/\partial s = -1/s^2$", (10.9, 0.6), "op"),
    GraphNode(
        "x_hat",
        r"8. $\hat{x}_i = c_i\, r$",
        r"$\partial\hat{x}_i/\partial c_i = r$" "\n" r"$\partial\hat{x}_i/\partial r = c_i$",
        (8.4, 2.6),
        "op",
    ),
    GraphNode(
        "y",
        r"9. $y_i = \gamma\hat{x}_i + \beta$",
        r"$\partial y_i/\partial\hat{x}_i = \gamma$"
        "\n"
        r"$\partial y_i/\partial\gamma = \hat{x}_i$"
        "\n"
        r"$\partial y_i/\partial\beta = 1$",
        (11.0, 2.6),
        "output",
    ),
)

#: Edges with their local gradients, exactly the derivatives printed in the nodes.
BN_GRAPH_EDGES: tuple[GraphEdge, ...] = (
    GraphEdge("x", "mu", lambda v: 1.0 / v["m"]),
    GraphEdge("x", "xc", lambda v: 1.0),
    GraphEdge("mu", "xc", lambda v: -1.0),
    GraphEdge("xc", "sq", lambda v: 2.0 * v["xc"]),
    GraphEdge("sq", "var", lambda v: 1.0 / v["m"]),
    GraphEdge("var", "var_eps", lambda v: 1.0),
    GraphEdge("var_eps", "std", lambda v: 1.0 / (2.0 * v["std"])),
    GraphEdge("std", "inv_std", lambda v: -1.0 / v["std"] ** 2),
    GraphEdge("xc", "x_hat", lambda v: v["inv_std"]),
    GraphEdge("inv_std", "x_hat", lambda v: v["xc"]),
    GraphEdge("x_hat", "y", lambda v: v["gamma"]),
    GraphEdge("gamma", "y", lambda v: v["x_hat"]),
    GraphEdge("beta", "y", lambda v: 1.0),
)


def _check_2d(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array.astype(np.float64)


def _forward_values(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> dict:
    v = {"x": x, "gamma": gamma[None, :], "beta": beta[None, :], "m": x.shape[0]}
    v["mu"] = x.mean(axis=0, keepdims=True)
    v["xc"] = x - v["mu"]
    v["sq"] = v["xc"] ** 2
    v["var"] = v["sq"].mean(axis=0, keepdims=True)
    v["var_eps"] = v["var"] + epsilon
    v["std"] = np.sqrt(v["var_eps"])
    v["inv_std"] = 1.0 / v["std"]
    v["x_hat"] = v["xc"] * v["inv_std"]
    v["y"] = v["gamma"] * v["x_hat"] + v["beta"]
    return v


def backward_through_graph(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    dy: np.ndarray,
    *,
    epsilon: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagate ``dy`` through :data:`BN_GRAPH_EDGES`, one edge at a time.

    Each node's gradient is the sum over its outgoing edges of (the child's gradient times
    the edge's local gradient), summed over the batch where a per-feature value fed a
    batch-sized one. This is the reverse-mode rule the diagram illustrates, run on the
    diagram's own data.

    Args:
        x: Input batch, shape ``(m, C)``.
        gamma: Scale, shape ``(C,)``.
        beta: Shift, shape ``(C,)``.
        dy: Upstream gradient, shape ``(m, C)``.
        epsilon: Added to the variance.

    Returns:
        ``(dx, dgamma, dbeta)`` with shapes ``(m, C)``, ``(C,)``, ``(C,)``, float64.

    Raises:
        TypeError: If an array is not floating point or ``epsilon`` is not a number.
        ValueError: If the shapes do not fit or ``epsilon <= 0``.
    """
    x = _check_2d("x", x)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"x must have shape (m, C) with m, C >= 1, got {x.shape}")
    gamma = _check_2d("gamma", gamma, (x.shape[1],))
    beta = _check_2d("beta", beta, (x.shape[1],))
    dy = _check_2d("dy", dy, x.shape)
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"epsilon must be a real number, got {type(epsilon).__name__}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got epsilon={epsilon!r}")
    values = _forward_values(x, gamma, beta, float(epsilon))
    grads = {"y": dy}
    order = [node.name for node in BN_GRAPH_NODES]
    # The node tuple lists every parent before its children, so reversed() is a valid
    # reverse topological order.
    for name in reversed(order):
        for edge in (e for e in BN_GRAPH_EDGES if e.parent == name):
            contribution = grads[edge.child] * edge.local(values)
            shape = np.shape(values[name])
            full = np.broadcast_to(contribution, np.broadcast_shapes(np.shape(contribution), shape))
            summed = full.sum(axis=0, keepdims=True) if shape[0] == 1 else full
            grads[name] = grads.get(name, 0.0) + summed
    return grads["x"], grads["gamma"].reshape(-1), grads["beta"].reshape(-1)
