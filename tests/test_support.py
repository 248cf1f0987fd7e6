"""The package's support modules: public API, seeding, glue fallback and plot helpers."""

from __future__ import annotations

import builtins
import sys

import matplotlib
import numpy as np
import pytest

import companion
from companion import plots
from companion.notebook import glue
from companion.seeding import seed_everything

matplotlib.use("Agg")


def test_public_api_names_exist_and_are_sorted_uniquely() -> None:
    names = companion.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(companion, name), name


def test_seed_everything_repeats_numpy_and_tensorflow_draws() -> None:
    import tensorflow as tf

    draws = []
    for _ in range(2):
        seed_everything(3)
        # The legacy global generator is what learners' np.random.* calls use.
        draws.append((np.random.rand(3), tf.random.uniform((3,)).numpy()))  # noqa: NPY002
    first, second = draws
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ValueError, "non-negative, got -1"),
        (1.5, TypeError, "float"),
        (True, TypeError, "bool"),
    ],
)
def test_seed_everything_rejects_bad_seeds(seed, error, match) -> None:
    with pytest.raises(error, match=match):
        seed_everything(seed)


def test_glue_without_myst_nb_displays_the_value(monkeypatch, capsys) -> None:
    real_import = builtins.__import__

    def no_myst_nb(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "myst_nb", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    glue("answer", 42, display=False)
    assert "42" in capsys.readouterr().out


def test_glue_passes_numpy_scalars_as_python_numbers(monkeypatch) -> None:
    myst_nb = pytest.importorskip(
        "myst_nb", reason="MyST-NB is a book-build tool (requirements.txt); Colab has none"
    )

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    glue("gap", np.float32(0.25), display=False)
    assert type(seen["gap"]) is float and seen["gap"] == 0.25


def test_glue_rejects_an_empty_name() -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        glue("", 1)


def test_new_axes_and_labels() -> None:
    fig, axes = plots.new_axes(2)
    assert len(axes) == 2
    ax = plots.label_axes(axes[0], "training step", "loss", title="t")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("training step", "loss", "t")
    with pytest.raises(ValueError, match="ncols must be a positive int, got 0"):
        plots.new_axes(0)
    matplotlib.pyplot.close(fig)


def test_plot_mean_band_draws_the_mean_and_checks_shapes() -> None:
    fig, ax = plots.new_axes()
    runs = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])
    plots.plot_mean_band(ax, np.arange(3), runs, color=plots.COLORS["bn"], label="BN")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"shape \(R, 4\), got \(2, 3\)"):
        plots.plot_mean_band(ax, np.arange(4), runs, color="k", label="x")
    matplotlib.pyplot.close(fig)


def test_book_colours_for_bn_and_no_bn_are_distinct() -> None:
    assert plots.COLORS["bn"] != plots.COLORS["no_bn"]


def test_configure_display_rejects_an_unknown_figure_format() -> None:
    with pytest.raises(ValueError, match="figure_format.*'jpeg'"):
        companion.configure_display("jpeg")


def test_configure_display_outside_a_kernel_sets_print_options_only() -> None:
    import pandas as pd

    before = np.get_printoptions()["legacy"], pd.get_option("display.max_colwidth")
    try:
        assert companion.configure_display() is False
        assert repr(np.float64(0.5)) == "0.5"
        assert pd.get_option("display.max_colwidth") is None
    finally:
        np.set_printoptions(legacy=before[0])
        pd.set_option("display.max_colwidth", before[1])
    assert repr(np.float64(0.5)) == "np.float64(0.5)"


@pytest.mark.parametrize(
    ("text", "want"), [("3.14.0", (3, 14, 0)), ("3.10", (3, 10)), ("2.19.0rc1", (2, 19, 0))]
)
def test_version_tuple(text, want) -> None:
    from companion.compat import version_tuple

    assert version_tuple(text) == want


def test_version_tuple_rejects_garbage() -> None:
    from companion.compat import version_tuple

    with pytest.raises(ValueError, match="'dev'"):
        version_tuple("dev")


def test_keras_at_least_agrees_with_the_installed_version() -> None:
    import keras

    from companion.compat import keras_at_least, version_tuple

    major, minor = version_tuple(keras.__version__)[:2]
    assert keras_at_least(f"{major}.{minor}")
    assert not keras_at_least(f"{major}.{minor + 1}")
    assert keras_at_least("3.0")


def test_builtin_bn_accepts_matches_a_real_construction() -> None:
    import keras

    from companion.compat import builtin_bn_accepts

    assert builtin_bn_accepts("momentum")
    assert not builtin_bn_accepts("no_such_argument")
    if builtin_bn_accepts("renorm"):
        assert keras.layers.BatchNormalization(renorm=True).renorm
    else:  # Keras 3.10 rejects unknown keyword arguments with a ValueError
        with pytest.raises((TypeError, ValueError), match="renorm"):
            keras.layers.BatchNormalization(renorm=True)
