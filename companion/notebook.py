"""Helpers for the chapters' notebooks that must also work outside the book build."""

from __future__ import annotations

from typing import Any

import numpy as np

#: The figure formats :func:`configure_display` accepts (SVG stays sharp at any zoom).
FIGURE_FORMATS = ("svg", "retina", "png")


def configure_display(figure_format: str = "svg") -> bool:
    """Make a notebook show what the book shows, whatever the environment says.

    Every chapter's setup cell calls this once. It

    - draws figures inline even when ``MPLBACKEND=Agg`` is set (as on many CI runners and
      servers): without it a headless build renders ``<Figure size 600x400 with 1 Axes>``
      instead of the picture;
    - renders figures as SVG (sharp on high-density screens) on an opaque white
      background, so their dark text stays readable in the book's dark mode;
    - prints NumPy scalars as numbers (``0.887``, not ``np.float64(0.887)``);
    - lets pandas show the full text of every table cell;
    - shows a deliberate error as its message, without a traceback full of file paths.

    Args:
        figure_format: ``"svg"`` (default), ``"retina"`` (PNG at twice the resolution)
            or ``"png"``.

    Returns:
        True when it configured a running IPython kernel; False outside IPython (a plain
        script), where it changes only NumPy's and pandas' print options.

    Raises:
        ValueError: If ``figure_format`` is not one of :data:`FIGURE_FORMATS`.
    """
    if figure_format not in FIGURE_FORMATS:
        raise ValueError(f"figure_format must be one of {FIGURE_FORMATS}, got {figure_format!r}")
    import pandas as pd

    np.set_printoptions(legacy="1.25")  # scalar reprs as before NumPy 2: plain numbers
    pd.set_option("display.max_colwidth", None)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with every notebook
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    # An explicit inline backend overrides MPLBACKEND and registers the figure formatters.
    shell.run_line_magic("matplotlib", "inline")
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats(figure_format)
    import matplotlib.pyplot as plt

    # The inline backend's default background is transparent: invisible text in dark mode.
    plt.rcParams.update({"figure.facecolor": "white", "savefig.facecolor": "white"})
    shell.run_line_magic("xmode", "Minimal")
    return True


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
