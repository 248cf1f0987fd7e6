"""companion.data: the offline wine and digits data, and MNIST from a cache or a download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from companion.data import (
    Split,
    load_classification,
    load_digits_split,
    load_mnist,
    load_wine_split,
    wine_frame,
)


def class_fractions(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=n_classes) / y.size


def test_wine_frame() -> None:
    frame = wine_frame()
    assert frame.shape == (178, 14)
    assert "target" in frame.columns
    assert set(frame["target"]) == {0, 1, 2}
    # The scales the standardization chapter relies on.
    assert 250 < frame["proline"].min() and frame["proline"].max() > 1000
    assert 0.4 < frame["hue"].min() and frame["hue"].max() < 2


@pytest.mark.parametrize(("test_size", "n_test"), [(0.25, 45), (0.5, 89)])
def test_wine_split_shapes_and_dtypes(test_size: float, n_test: int) -> None:
    split = load_wine_split(test_size=test_size)
    assert isinstance(split, Split)
    assert split.x_train.shape == (178 - n_test, 13) and split.x_test.shape == (n_test, 13)
    assert split.y_train.shape == (178 - n_test,) and split.y_test.shape == (n_test,)
    assert split.x_train.dtype == np.float64  # unscaled: the chapter scales it
    assert np.issubdtype(split.y_train.dtype, np.integer)


def test_wine_split_is_a_partition_of_the_data() -> None:
    split = load_wine_split()
    together = np.vstack([split.x_train, split.x_test])
    expected = wine_frame().drop(columns="target").to_numpy()
    assert sorted(map(tuple, together)) == sorted(map(tuple, expected))


def test_wine_split_is_stratified() -> None:
    split = load_wine_split()
    full = class_fractions(wine_frame()["target"].to_numpy(), 3)
    np.testing.assert_allclose(class_fractions(split.y_train, 3), full, atol=0.02)
    np.testing.assert_allclose(class_fractions(split.y_test, 3), full, atol=0.03)


def test_wine_split_depends_only_on_the_seed() -> None:
    first, again, other = load_wine_split(seed=3), load_wine_split(seed=3), load_wine_split(seed=4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.x_train, other.x_train)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, "0.25", None])
def test_bad_test_size_is_rejected(bad) -> None:
    with pytest.raises(ValueError, match="test_size must be a fraction in"):
        load_wine_split(test_size=bad)
    with pytest.raises(ValueError, match="test_size must be a fraction in"):
        load_digits_split(test_size=bad)


@pytest.mark.parametrize(
    ("images", "shape"), [(False, (64,)), (True, (8, 8, 1))], ids=["flat", "images"]
)
def test_digits_split(images: bool, shape: tuple[int, ...]) -> None:
    split = load_digits_split(images=images)
    assert split.x_train.shape == (1347, *shape) and split.x_test.shape == (450, *shape)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.x_train.min() == 0.0 and split.x_train.max() == 1.0
    full = class_fractions(np.concatenate([split.y_train, split.y_test]), 10)
    np.testing.assert_allclose(class_fractions(split.y_test, 10), full, atol=0.01)
    again = load_digits_split(images=images)
    np.testing.assert_array_equal(split.x_test, again.x_test)


def test_digits_images_are_the_flat_digits_reshaped() -> None:
    flat, images = load_digits_split(), load_digits_split(images=True)
    np.testing.assert_array_equal(images.x_train.reshape(-1, 64), flat.x_train)


@pytest.fixture
def fake_mnist(tmp_path: Path) -> Path:
    """A tiny file laid out like Keras's mnist.npz (uint8 images, uint8 labels)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
        y_train=np.arange(6, dtype=np.uint8),
        x_test=np.full((3, 28, 28), 255, dtype=np.uint8),
        y_test=np.array([7, 8, 9], dtype=np.uint8),
    )
    return path


@pytest.mark.parametrize(("images", "shape"), [(False, (784,)), (True, (28, 28, 1))])
def test_mnist_from_a_file(fake_mnist: Path, images: bool, shape: tuple[int, ...]) -> None:
    split = load_mnist(path=fake_mnist, images=images)
    assert split.x_train.shape == (6, *shape) and split.x_test.shape == (3, *shape)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    np.testing.assert_array_equal(split.x_test, 1.0)
    np.testing.assert_array_equal(split.y_test, [7, 8, 9])
    with np.load(fake_mnist) as raw:
        np.testing.assert_allclose(split.x_train.reshape(6, 28, 28) * 255, raw["x_train"])


def test_mnist_not_cached_without_download(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mnist.npz"
    with pytest.raises(FileNotFoundError, match=r"MNIST is not cached at .*mnist\.npz.*download"):
        load_mnist(path=missing)


def test_mnist_download_failure_is_a_connection_error(tmp_path: Path, monkeypatch) -> None:
    keras = pytest.importorskip("keras")

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(ConnectionError, match="Could not download MNIST.*OSError.*offline") as info:
        load_mnist(download=True, path=tmp_path / "mnist.npz")
    assert isinstance(info.value.__cause__, OSError)


def test_mnist_download_is_saved_where_asked(tmp_path: Path, monkeypatch) -> None:
    keras = pytest.importorskip("keras")
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    labels = np.array([3, 4], dtype=np.uint8)
    monkeypatch.setattr(
        keras.datasets.mnist, "load_data", lambda: ((images, labels), (images[:1], labels[:1]))
    )
    target = tmp_path / "sub" / "mnist.npz"
    split = load_mnist(download=True, path=target)
    assert target.exists() and split.x_train.shape == (2, 784)
    np.testing.assert_array_equal(load_mnist(path=target).y_test, [3])


def test_load_classification_digits() -> None:
    split = load_classification("digits", seed=1)
    np.testing.assert_array_equal(split.x_train, load_digits_split(seed=1).x_train)


def test_load_classification_bad_name() -> None:
    with pytest.raises(ValueError, match=r"name must be 'digits' or 'mnist', got 'cifar'"):
        load_classification("cifar")
