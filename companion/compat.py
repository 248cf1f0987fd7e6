"""What the installed stack supports: the course runs on our pins and on older stacks.

The pinned stack (``requirements.txt``) is the newest the course is built with; the floor
stack (``constraints/floor.txt``, the oldest ``pyproject.toml`` allows) is what Google
Colab ships. Code that uses a feature newer than the floor asks here first and degrades
visibly (a note in a table, a skipped comparison with a reason), never with an exception.
"""

from __future__ import annotations

import inspect
import re


def version_tuple(version: str) -> tuple[int, ...]:
    """``"3.14.0rc1"`` -> ``(3, 14, 0)``: the leading numeric release segments.

    Raises:
        ValueError: If ``version`` does not start with a number.
    """
    if not isinstance(version, str):
        raise TypeError(f"version must be a str, got {type(version).__name__}: {version!r}")
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"version must start with a number such as '3.14', got {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def keras_version() -> tuple[int, ...]:
    """The installed Keras version as a tuple, e.g. ``(3, 15, 1)``."""
    import keras

    return version_tuple(keras.__version__)


def keras_at_least(version: str) -> bool:
    """True when the installed Keras is ``version`` or newer (``"3.14"``)."""
    want = version_tuple(version)
    have = keras_version()
    width = max(len(want), len(have))
    return have + (0,) * (width - len(have)) >= want + (0,) * (width - len(want))


def builtin_bn_accepts(argument: str) -> bool:
    """Whether the installed ``keras.layers.BatchNormalization`` takes ``argument``.

    ``renorm``, ``renorm_clipping`` and ``renorm_momentum`` arrived in Keras 3.14; older
    Keras 3 releases reject them.
    """
    import keras

    params = inspect.signature(keras.layers.BatchNormalization.__init__).parameters
    return argument in params
