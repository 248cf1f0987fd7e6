"""Sphinx extension used by ``build_without_solutions.py``: drop every exercise solution.

sphinx-exercise's own ``hide_solutions`` option crashes on the gated
``solution-start``/``solution-end`` pairs the chapters use (it drops the start but not
the end node), so this transform runs after sphinx-exercise has merged each pair into
one solution node and removes those nodes instead.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node


class RemoveSolutions(SphinxTransform):
    """Remove solution nodes; priority 20 runs after sphinx-exercise's merge (10)."""

    default_priority = 20

    def apply(self) -> None:
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)


def setup(app: Sphinx) -> dict[str, bool]:
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
