"""Tests of companion.bn_graph: the graph data is BN's computation, edge by edge."""

from __future__ import annotations

import re

import numpy as np
import pytest

from companion.bn_graph import BN_GRAPH_EDGES, BN_GRAPH_NODES, backward_through_graph
from companion.gradcheck import numerical_gradient_array, relative_error
from companion.numpy_bn import batch_norm_backward, batch_norm_backward_graph, batch_norm_forward


@pytest.mark.parametrize("shape", [(2, 1), (8, 3), (33, 5)])
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_backward_through_the_drawn_graph_matches_the_package(shape, epsilon) -> None:
    rng = np.random.default_rng(shape[0])
    x, dy = rng.normal(size=shape), rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    _, cache = batch_norm_forward(x, gamma, beta, epsilon=epsilon)
    drawn = backward_through_graph(x, gamma, beta, dy, epsilon=epsilon)
    for reference in (batch_norm_backward(dy, cache), batch_norm_backward_graph(dy, cache)):
        for ours, theirs in zip(drawn, reference, strict=True):
            assert ours.shape == theirs.shape
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_backward_through_the_drawn_graph_matches_numerical_gradients() -> None:
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    gamma, beta = rng.normal(size=2), rng.normal(size=2)
    dx, dgamma, dbeta = backward_through_graph(x, gamma, beta, dy)
    numeric = [
        numerical_gradient_array(lambda v: batch_norm_forward(v, gamma, beta)[0], x, dy),
        numerical_gradient_array(lambda v: batch_norm_forward(x, v, beta)[0], gamma, dy),
        numerical_gradient_array(lambda v: batch_norm_forward(x, gamma, v)[0], beta, dy),
    ]
    for ours, theirs in zip((dx, dgamma, dbeta), numeric, strict=True):
        assert relative_error(ours, theirs) < 1e-7


def test_graph_is_the_packages_nine_nodes_in_order() -> None:
    # The docstring of batch_norm_backward_graph numbers its nodes: "mu = mean(x)  # 1. ..."
    numbered = re.findall(r"^\s*(\w+)\s+=.*#\s*(\d)\.", batch_norm_backward_graph.__doc__, re.M)
    ops = [node for node in BN_GRAPH_NODES if node.kind in ("op", "output")]
    assert [name for name, _ in numbered] == [node.name for node in ops]
    assert [f"{k}." for _, k in numbered] == [node.forward.split()[0] for node in ops]


def test_graph_edges_and_local_gradient_labels() -> None:
    names = [node.name for node in BN_GRAPH_NODES]
    for edge in BN_GRAPH_EDGES:
        assert names.index(edge.parent) < names.index(edge.child)  # parents come first
    for node in BN_GRAPH_NODES:
        incoming = sum(edge.child == node.name for edge in BN_GRAPH_EDGES)
        # One printed derivative "d child / d parent" per incoming edge.
        assert node.local.count(r"/\partial") == incoming, node.name


def test_backward_through_graph_checks_its_input() -> None:
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"gamma must have shape \(2,\), got \(3,\)"):
        backward_through_graph(x, np.ones(3), np.ones(2), x)
    with pytest.raises(ValueError, match=r"dy must have shape \(4, 2\)"):
        backward_through_graph(x, np.ones(2), np.ones(2), np.ones((4, 3)))
    with pytest.raises(TypeError, match="dtype int64"):
        backward_through_graph(np.ones((4, 2), dtype=np.int64), np.ones(2), np.ones(2), x)
    with pytest.raises(ValueError, match=r"shape \(m, C\)"):
        backward_through_graph(np.ones((2, 2, 2)), np.ones(2), np.ones(2), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="epsilon=0"):
        backward_through_graph(x, np.ones(2), np.ones(2), x, epsilon=0)
