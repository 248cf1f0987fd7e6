"""Tests of companion.small_batch, companion.sequence_norm and companion.norm_plots."""

from __future__ import annotations

import re

import keras
import matplotlib
import numpy as np
import pytest

from companion.compat import builtin_bn_accepts
from companion.data import Split, load_digits_split
from companion.norm_plots import NORM_COLORS, norm_cubes_figure, plot_norm_cube
from companion.norms import layer_norm, statistics_index
from companion.plots import COLORS
from companion.sequence_norm import (
    NormalizedRNNCell,
    build_rnn_classifier,
    digits_as_sequences,
    step_statistics,
)
from companion.small_batch import (
    batch_size_sweep,
    build_norm_mlp,
    norm_layer,
    recalibrate_batch_norm,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def digits() -> Split:
    return load_digits_split()


# ---------------------------------------------------------------------------------------------
# small_batch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("batch", keras.layers.BatchNormalization),
        ("group", keras.layers.GroupNormalization),
        ("layer", keras.layers.LayerNormalization),
        ("none", keras.layers.Identity),
    ],
)
def test_norm_layer_kinds(kind, cls):
    assert isinstance(norm_layer(kind), cls)


def test_norm_layer_rejects_unknown_kind_and_missing_renorm():
    with pytest.raises(ValueError, match="kind must be one of .* got 'weight'"):
        norm_layer("weight")
    if not builtin_bn_accepts("renorm"):
        with pytest.raises(ValueError, match="Keras >= 3.14"):
            norm_layer("keras_renorm")


def test_mlp_differs_only_in_the_normalization():
    models = {kind: build_norm_mlp(kind, seed=0) for kind in ("batch", "layer")}
    dense = {
        kind: [
            w.numpy()
            for layer in m.layers
            if isinstance(layer, keras.layers.Dense)
            for w in layer.weights
        ]
        for kind, m in models.items()
    }
    for a, b in zip(dense["batch"], dense["layer"], strict=True):
        np.testing.assert_array_equal(a, b)  # same seed, same Dense weights
    assert isinstance(models["batch"].layers[1], keras.layers.BatchNormalization)
    assert isinstance(models["layer"].layers[1], keras.layers.LayerNormalization)


def test_sweep_learns_and_records_every_run(digits):
    sweep = batch_size_sweep(
        lambda seed: build_norm_mlp("layer", seed=seed), digits, [32, 64], [0, 1], epochs=1
    )
    assert sweep.test_accuracy.shape == sweep.test_accuracy_batch_stats.shape == (2, 2)
    assert sweep.test_accuracy.min() > 0.5  # ten classes: chance is 0.1
    # Layer norm is the same in training and inference mode.
    np.testing.assert_array_equal(sweep.test_accuracy, sweep.test_accuracy_batch_stats)
    assert list(sweep.batch_sizes) == [32, 64] and sweep.seconds > 0


def test_sweep_is_deterministic(digits):
    def run():
        return batch_size_sweep(
            lambda seed: build_norm_mlp("batch", seed=seed), digits, [64], [3], epochs=1
        ).test_accuracy

    np.testing.assert_array_equal(run(), run())


def test_sweep_rejects_bad_arguments(digits):
    build = lambda seed: build_norm_mlp("layer", seed=seed)  # noqa: E731
    with pytest.raises(ValueError, match=re.escape("got batch size 0")):
        batch_size_sweep(build, digits, [0], [0])
    with pytest.raises(ValueError, match="epochs=0"):
        batch_size_sweep(build, digits, [8], [0], epochs=0)


def test_recalibrate_sets_population_statistics(digits):
    model = build_norm_mlp("batch", seed=0)
    bn = model.layers[1]
    recalibrate_batch_norm(model, digits.x_train)
    pre_activation = digits.x_train @ model.layers[0].kernel.numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), pre_activation.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), pre_activation.var(axis=0), rtol=1e-4)
    assert bn.momentum == 0.9  # restored
    with pytest.raises(ValueError, match="no BatchNormalization"):
        recalibrate_batch_norm(build_norm_mlp("layer", seed=0), digits.x_train)


# ---------------------------------------------------------------------------------------------
# sequence_norm
# ---------------------------------------------------------------------------------------------


def test_digits_as_sequences_reads_rows_in_order(digits):
    sequences = digits_as_sequences(steps=8)
    assert sequences.x_train.shape == (len(digits.x_train), 8, 8)
    np.testing.assert_array_equal(sequences.x_train[0, 1], digits.x_train[0, 8:16])
    assert digits_as_sequences(steps=64).x_test.shape[1:] == (64, 1)
    with pytest.raises(ValueError, match="steps=5"):
        digits_as_sequences(steps=5)


def test_layer_norm_cell_matches_a_manual_recurrence():
    model = build_rnn_classifier("layer", seed=0, units=6, steps=3, features=4)
    cell = model.get_layer("rnn").cell
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype("float32")
    kernel, recurrent = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    gamma, beta = (w.numpy().astype("float64") for w in cell.normalization.weights)
    h = np.zeros((5, 6))
    for t in range(3):
        z = x[:, t] @ kernel + h @ recurrent
        h = np.tanh(layer_norm(z.astype("float64"), gamma, beta)[0])
    head = model.layers[-1]
    expected = h @ head.kernel.numpy() + head.bias.numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-4)


def test_cell_rejects_bad_arguments():
    with pytest.raises(ValueError, match="norm must be one of .* got 'group'"):
        NormalizedRNNCell(4, "group")
    with pytest.raises(ValueError, match="units must be a positive int, got 0"):
        NormalizedRNNCell(0)


def test_step_statistics_of_the_first_step():
    model = build_rnn_classifier("none", seed=0, units=5, steps=4, features=2)
    x = np.random.default_rng(1).normal(size=(7, 4, 2)).astype("float32")
    mean, std = step_statistics(model, x)
    first = x[:, 0] @ model.get_layer("rnn").cell.kernel.numpy()  # h_0 = 0
    assert mean.shape == std.shape == (4,)
    np.testing.assert_allclose([mean[0], std[0]], [first.mean(), first.std()], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# norm_plots
# ---------------------------------------------------------------------------------------------


def test_cube_shades_exactly_the_shared_entries():
    import matplotlib.pyplot as plt

    labels = statistics_index((3, 4, 6), reduce_axes=(1,), groups=2)
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    plot_norm_cube(ax, labels, color=NORM_COLORS["group"])
    shaded = [
        c
        for c in ax.collections
        if np.allclose(c.get_facecolor()[0][:3], matplotlib.colors.to_rgb(NORM_COLORS["group"]))
    ]
    assert len(shaded) == int(np.sum(labels == labels[0, 0, 0]))  # one voxel per shared entry
    plt.close(fig)


def test_cube_figure_and_colors():
    import matplotlib.pyplot as plt

    fig = norm_cubes_figure(groups=3)
    assert len(fig.axes) == 4 and fig.axes[3].get_title() == "Group Norm (3 groups)"
    assert NORM_COLORS["batch"] == COLORS["bn"]
    plt.close(fig)
    with pytest.raises(ValueError, match=re.escape("got (2, 3)")):
        plot_norm_cube(None, np.zeros((2, 3)), color="k")
