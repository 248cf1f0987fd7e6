"""Reproducibility: one call that fixes every random number generator a chapter uses."""

from __future__ import annotations

import numpy as np


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and TensorFlow's/Keras's global generators.

    Chapters call this once in their setup cell so that a rebuild gives the same
    numbers and the rendered pages do not churn.

    Args:
        seed: A non-negative integer.

    Raises:
        TypeError: If ``seed`` is not an integer.
        ValueError: If ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    import keras  # imported here so the NumPy-only parts of the package stay light

    # Seeds Python's ``random``, NumPy's legacy global generator and TensorFlow.
    keras.utils.set_random_seed(int(seed))
