"""Helpers for the chapters' notebooks that must also work outside the book build."""

from __future__ import annotations

from typing import Any

import numpy as np


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Store ``variable`` under ``name`` for the book's ``{glue}`` roles.

    In the book build this is ``myst_nb.glue``. On Google Colab or a plain Jupyter
    install, where MyST-NB is absent and no page pastes the value anywhere, it simply
    displays the value (whatever ``display`` says), so a learner still sees every
    number and figure the prose refers to.

    Args:
        name: The key the page's ``{glue}`` role refers to.
        variable: The value to store (a number, a string, a figure, ...).
        display: Whether the book also shows the value in the cell's output.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if isinstance(variable, np.generic):
        # NumPy 2 scalars print as ``np.float32(0.5)``, which ``{glue:text}`key:.2f```
        # cannot format; a plain Python number can.
        variable = variable.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        from IPython.display import display as ipy_display

        ipy_display(variable)
        return
    myst_glue(name, variable, display=display)
