"""Data sets the chapters use.

Everything a chapter needs by default ships inside an installed package
(scikit-learn's wine and 8x8 digits), so the book builds and runs offline.
MNIST is optional: it is read from the Keras cache and downloaded only when the
caller asks for it, with a clear error when that is impossible.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import train_test_split

#: Where Keras keeps ``mnist.npz`` after ``keras.datasets.mnist.load_data()``.
MNIST_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"


class Split(NamedTuple):
    """A train/test split: features ``(N, ...)`` float32, labels ``(N,)`` int64."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def _check_fraction(test_size: float) -> None:
    if not isinstance(test_size, float | int) or not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")


def wine_frame() -> pd.DataFrame:
    """scikit-learn's wine data (178 wines, 13 chemical measurements) as a DataFrame.

    The column ``target`` holds the cultivar (0, 1 or 2). Feature scales differ by
    three orders of magnitude: ``proline`` is in the hundreds to thousands, ``hue``
    around 1.
    """
    bunch = load_wine(as_frame=True)
    return bunch.frame


def load_wine_split(test_size: float = 0.25, seed: int = 0) -> Split:
    """The wine data split into stratified train and test parts.

    Args:
        test_size: Fraction of the 178 samples held out for testing.
        seed: Seed of the shuffle.

    Returns:
        A :class:`Split` with ``x_*`` of shape ``(N, 13)`` (float64, unscaled).
    """
    _check_fraction(test_size)
    x, y = load_wine(return_X_y=True)
    parts = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Split(*(np.asarray(p) for p in parts))


def load_digits_split(test_size: float = 0.25, seed: int = 0, *, images: bool = False) -> Split:
    """scikit-learn's 1,797 handwritten 8x8 digits, scaled to [0, 1].

    Args:
        test_size: Fraction held out for testing.
        seed: Seed of the stratified shuffle.
        images: If true, ``x_*`` have shape ``(N, 8, 8, 1)`` (channels last);
            otherwise ``(N, 64)``.

    Returns:
        A :class:`Split` with float32 features and int64 labels 0-9.
    """
    _check_fraction(test_size)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    if images:
        x = x.reshape(-1, 8, 8, 1)
    parts = train_test_split(
        x, y.astype(np.int64), test_size=test_size, random_state=seed, stratify=y
    )
    return Split(*parts)


def load_mnist(
    *, download: bool = False, path: str | Path | None = None, images: bool = False
) -> Split:
    """MNIST (60,000 train and 10,000 test images of 28x28 digits), scaled to [0, 1].

    Args:
        download: If the file is not cached, fetch it with
            ``keras.datasets.mnist.load_data()``. Off by default so nothing touches
            the network unless asked.
        path: An ``mnist.npz`` to read instead of the Keras cache; after a download the
            arrays are also saved there.
        images: If true, ``x_*`` have shape ``(N, 28, 28, 1)``; otherwise ``(N, 784)``.

    Raises:
        FileNotFoundError: If the file is not there and ``download`` is false.
        ConnectionError: If the download was asked for and failed (for example offline).
    """
    file = Path(path) if path is not None else MNIST_CACHE
    if file.exists():
        with np.load(file) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
    elif not download:
        raise FileNotFoundError(
            f"MNIST is not cached at {file}. Call load_mnist(download=True) while "
            "online to fetch it (about 11 MB), or use the offline digits data "
            "(load_digits_split)."
        )
    else:
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as err:  # urllib, http and TF raise many different types
            raise ConnectionError(
                f"Could not download MNIST ({type(err).__name__}: {err}). Are you offline? "
                "Use the digits data shipped with scikit-learn (load_digits_split) instead."
            ) from err
        if path is not None:  # Keras cached its own copy; also keep one where asked
            file.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                file, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
            )
    shape = (-1, 28, 28, 1) if images else (-1, 28 * 28)
    return Split(
        (x_train.reshape(shape) / 255.0).astype(np.float32),
        (x_test.reshape(shape) / 255.0).astype(np.float32),
        y_train.astype(np.int64),
        y_test.astype(np.int64),
    )


def load_classification(name: str, *, seed: int = 0, download: bool = False) -> Split:
    """Load ``"digits"`` (offline, 64 features) or ``"mnist"`` (784 features), flattened.

    Chapters switch data sets with this one argument. ``seed`` sets the digits
    train/test shuffle; MNIST comes with a fixed split, so it ignores ``seed``.
    """
    if name == "digits":
        return load_digits_split(seed=seed)
    if name == "mnist":
        return load_mnist(download=download)
    raise ValueError(f"name must be 'digits' or 'mnist', got {name!r}")
