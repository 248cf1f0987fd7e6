"""Tests of companion.search (spaces, grid, random, zoom), companion.tuning and .stacked.

The stacked trainer is checked against Keras itself: one member of a stack must train
exactly like a :func:`build_mlp` model with ``keras.optimizers.Adam``/``SGD``, Keras's
``BatchNormalization`` and its L2 regularizer, step for step on the same batches.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion import stacked
from companion.data import Split
from companion.search import Choice, Range, check_space, grid_search, random_search, zoom
from companion.stacked import train_stack
from companion.tuning import build_mlp, expand_seeds, trainable_range

# --------------------------------------------------------------------------- search spaces


@pytest.mark.parametrize(
    ("dim", "u", "expected"),
    [
        (Range(2.0, 6.0), [0, 0.5, 1], [2.0, 4.0, 6.0]),
        (Range(1e-4, 1.0, "log"), [0, 0.25, 0.5, 1], [1e-4, 1e-3, 1e-2, 1.0]),
        (Range(0.9, 0.999, "beta"), [0, 0.5, 1], [0.9, 0.99, 0.999]),
    ],
)
def test_range_spreads_values_on_its_scale(dim: Range, u: list, expected: list) -> None:
    np.testing.assert_allclose(dim.values(u), expected, rtol=1e-12)
    np.testing.assert_allclose(dim.positions(expected), u, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"low": 0.0, "high": 1.0, "scale": "log"}, ValueError, "low=0.0"),
        ({"low": -1e-3, "high": 1.0, "scale": "log"}, ValueError, "low=-0.001"),
        ({"low": 1e-3, "high": 1.0, "scale": "exponential"}, ValueError, "'exponential'"),
        ({"low": 0.9, "high": 1.0, "scale": "beta"}, ValueError, "high=1.0"),
        ({"low": 1.0, "high": 1.0}, ValueError, "low=1.0, high=1.0"),
        ({"low": "0.1", "high": 1.0}, TypeError, "'0.1'"),
        ({"low": 0.0, "high": float("inf")}, ValueError, "inf"),
    ],
)
def test_range_rejects_bad_bounds_and_scales(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        Range(**kwargs)


def test_positions_outside_the_range_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[0.1, 1.0\]"):
        Range(0.1, 1.0, "log").positions([0.01])
    with pytest.raises(ValueError, match="u must lie in"):
        Range(0.1, 1.0).values([1.5])


def test_choice_maps_unit_interval_to_options() -> None:
    dim = Choice((16, 32, 64))
    assert dim.values([0.0, 0.34, 0.7, 1.0]) == [16, 32, 64, 64]
    with pytest.raises(ValueError, match=r"\(\)"):
        Choice(())


@pytest.mark.parametrize(
    ("space", "error", "words"),
    [
        ({}, ValueError, r"\{\}"),
        ([("lr", Range(1e-3, 1.0))], TypeError, "list"),
        ({"lr": (1e-3, 1.0)}, TypeError, r"space\['lr'\]"),
        ({3: Range(1e-3, 1.0)}, TypeError, "3"),
    ],
)
def test_bad_spaces_are_rejected(space, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        check_space(space)
    with pytest.raises(error, match=words):
        grid_search(space, 3)
    with pytest.raises(error, match=words):
        random_search(space, 3)


@pytest.mark.parametrize(("count", "error"), [(0, ValueError), (-2, ValueError), (2.5, TypeError)])
def test_zero_or_non_integer_trial_counts_are_rejected(count, error: type) -> None:
    space = {"lr": Range(1e-3, 1.0, "log")}
    with pytest.raises(error, match=f"n_trials must be a positive int, got .*{count}"):
        random_search(space, count)
    with pytest.raises(error, match=f"points must be a positive int, got .*{count}"):
        grid_search(space, count)


SPACE = {
    "learning_rate": Range(1e-4, 1.0, "log"),
    "beta_1": Range(0.5, 0.99, "beta"),
    "batch_norm": Choice((True, False)),
}


def test_grid_is_every_combination_and_repeats_values() -> None:
    trials = grid_search(SPACE, 3)
    assert len(trials) == 3 * 3 * 2
    assert len({t["learning_rate"] for t in trials}) == 3  # each value used 6 times
    np.testing.assert_allclose(sorted({t["learning_rate"] for t in trials}), [1e-4, 1e-2, 1.0])
    assert len({tuple(t.values()) for t in trials}) == len(trials)
    middle = grid_search({"lr": Range(1e-4, 1.0, "log")}, 1)
    np.testing.assert_allclose(middle[0]["lr"], 1e-2)


def test_random_search_is_reproducible_and_spread_on_the_scale() -> None:
    trials = random_search(SPACE, 2000, seed=1)
    assert random_search(SPACE, 9, seed=1) == random_search(SPACE, 9, seed=1)
    assert random_search(SPACE, 9, seed=1) != random_search(SPACE, 9, seed=2)
    lr = np.array([t["learning_rate"] for t in trials])
    assert lr.min() >= 1e-4 and lr.max() <= 1.0
    # Log-uniform: each of the four decades gets about a quarter of the trials.
    per_decade = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0] / len(lr)
    np.testing.assert_allclose(per_decade, 0.25, atol=0.04)
    beta = np.array([t["beta_1"] for t in trials])
    below_09 = np.mean(beta < 0.9)  # 1 - beta in [0.1, 0.5]: log10 spans 0.70 of 1.70
    np.testing.assert_allclose(below_09, np.log10(5) / np.log10(50), atol=0.04)
    assert {t["batch_norm"] for t in trials} == {True, False}
    assert len({t["learning_rate"] for t in random_search(SPACE, 9, seed=0)}) == 9


def test_zoom_narrows_around_the_best_trials() -> None:
    space = {"lr": Range(1e-5, 1.0, "log"), "bn": Choice((True, False))}
    trials = [
        {"lr": lr, "bn": bn} for lr, bn in [(1e-4, True), (3e-3, True), (1e-2, True), (0.5, False)]
    ]
    scores = [0.5, 0.95, 0.97, np.nan]
    fine = zoom(space, trials, scores, keep=2, margin=0.0)
    np.testing.assert_allclose([fine["lr"].low, fine["lr"].high], [3e-3, 1e-2])
    assert fine["lr"].scale == "log" and fine["bn"].options == (True,)
    wider = zoom(space, trials, scores, keep=2, margin=0.1)  # a tenth of 5 decades each side
    np.testing.assert_allclose(
        [wider["lr"].low, wider["lr"].high], [3e-3 / 10**0.5, 1e-2 * 10**0.5]
    )
    with pytest.raises(ValueError, match="one score per trial"):
        zoom(space, trials, scores[:2])
    with pytest.raises(ValueError, match="keep must be a positive int, got 0"):
        zoom(space, trials, scores, keep=0)


# ------------------------------------------------------------------------- sweep helpers


def test_expand_seeds_and_reshape() -> None:
    trials = expand_seeds([{"learning_rate": 0.1}, {"learning_rate": 1.0}], [0, 1, 2])
    assert [t["seed"] for t in trials] == [0, 1, 2, 0, 1, 2]
    assert [t["learning_rate"] for t in trials[:3]] == [0.1] * 3
    with pytest.raises(ValueError, match=r"\[\]"):
        expand_seeds([{}], [])


def test_trainable_range() -> None:
    values = [0.01, 0.1, 1.0, 10.0]
    scores = np.array([[0.5, 0.95], [0.96, 0.97], [0.95, 0.92], [np.nan, 0.1]])
    assert trainable_range(values, scores, 0.9) == (0.1, 1.0)
    assert trainable_range(values, scores, 0.99) is None
    with pytest.raises(ValueError, match=r"\(4, R\)"):
        trainable_range(values, scores[:2], 0.9)


# --------------------------------------------------------------- the model and the stack


@pytest.mark.parametrize("batch_norm", [True, False])
def test_build_mlp_layers_and_init_scale(batch_norm: bool) -> None:
    model = build_mlp(width=16, depth=3, batch_norm=batch_norm, init_scale=0.5, seed=1)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Dense") == 4 and kinds.count("BatchNormalization") == 3 * batch_norm
    assert model.output_shape == (None, 10)
    assert model.layers[0].use_bias is not batch_norm
    big = build_mlp(width=512, depth=2, batch_norm=batch_norm, init_scale=0.5, seed=1)
    std = float(np.std(big.layers[-1].kernel))  # fan-in 512
    np.testing.assert_allclose(std, 0.5 * np.sqrt(2 / 512), rtol=0.05)
    with pytest.raises(ValueError, match="width must be a positive int, got 0"):
        build_mlp(width=0)


def _tiny_split(n: int = 40, d: int = 6, classes: int = 3, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (np.arange(n) % classes).astype("int64")
    return Split(x, x[:12], y, y[:12])


def _member_weights(stack, k: int, width: int, batch_norm: bool) -> list[np.ndarray]:
    """Member ``k`` of a stack as ``build_mlp(width=width, ...).get_weights()``."""
    out = []
    last = len(stack.kernels) - 1
    for i, (w, b) in enumerate(zip(stack.kernels, stack.biases, strict=True)):
        w = w.numpy()[k]
        w = w[: (w.shape[0] if i == 0 else width), : (w.shape[1] if i == last else width)]
        out.append(w)
        if i == last or not batch_norm:
            out.append(b.numpy()[k, 0, : w.shape[1]])
        if i < last and batch_norm:
            mm, mv = stack.moving[i]
            out += [v.numpy()[k, 0, :width] for v in (stack.gammas[i], stack.betas[i], mm, mv)]
    return out


@pytest.mark.parametrize(
    ("optimizer", "batch_norm"), [("adam", True), ("adam", False), ("sgd", True), ("sgd", False)]
)
def test_a_stack_member_trains_exactly_like_a_keras_model(optimizer: str, batch_norm: bool) -> None:
    split = _tiny_split()
    trials = [
        {"learning_rate": 0.01, "width": 5, "l2": 1e-3, "batch_norm": batch_norm, "seed": 0},
        {"learning_rate": 0.05, "width": 8, "init_scale": 0.5, "beta_1": 0.8, "beta_2": 0.99,
         "momentum": 0.5, "bn_momentum": 0.7, "bn_epsilon": 1e-2, "batch_norm": batch_norm,
         "seed": 1},
    ]  # fmt: skip
    stack = stacked._Stack(2, 8, optimizer, 6, 3)
    full = [stacked._complete(t, 8) for t in trials]
    stack.reset(full)
    references = []
    for k, t in enumerate(full):
        model = build_mlp(
            width=t["width"], inputs=6, classes=3, batch_norm=batch_norm, l2=t["l2"],
            bn_momentum=t["bn_momentum"], bn_epsilon=t["bn_epsilon"],
        )  # fmt: skip
        model.set_weights(_member_weights(stack, k, t["width"], batch_norm))
        if optimizer == "adam":
            opt = keras.optimizers.Adam(t["learning_rate"], t["beta_1"], t["beta_2"], t["epsilon"])
        else:
            opt = keras.optimizers.SGD(t["learning_rate"], momentum=t["momentum"])
        references.append((model, opt))
    rng = np.random.default_rng(5)
    order = np.stack([rng.permutation(40)[:30].reshape(3, 10) for _ in trials], axis=1)  # (S,K,B)
    x_train, y_train = tf.constant(split.x_train), tf.constant(split.y_train, tf.int32)
    losses = stack.epoch(x_train, y_train, tf.constant(order, tf.int32)).numpy()
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for k, (model, opt) in enumerate(references):
        step_losses = []
        for batch in order[:, k]:
            x, y = split.x_train[batch], split.y_train[batch]
            with tf.GradientTape() as tape:
                loss = scce(y, model(x, training=True)) + tf.add_n(model.losses or [0.0])
            opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            step_losses.append(float(loss))
        np.testing.assert_allclose(losses[k], np.mean(step_losses), rtol=1e-5)
        for mine, ref in zip(
            _member_weights(stack, k, full[k]["width"], batch_norm),
            model.get_weights(),
            strict=True,
        ):
            np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-6)
        accuracy = np.mean(np.argmax(model(split.x_test, training=False), -1) == split.y_test)
        np.testing.assert_allclose(
            stack.accuracy(tf.constant(split.x_test), tf.constant(split.y_test, tf.int32))[k],
            accuracy,
        )


def test_train_stack_is_deterministic_and_members_are_independent() -> None:
    split = _tiny_split(seed=1)
    base = {"learning_rate": 0.05, "seed": 3}
    alone = train_stack([base], split, depth=2, width=8, epochs=3, batch_size=10)
    together = train_stack(
        [{"learning_rate": 50.0, "batch_norm": False, "init_scale": 30.0}, base],
        split, depth=2, width=8, epochs=3, batch_size=10,
    )  # fmt: skip
    assert not together.train_loss[0, -1] < 1.0  # the first member fails (or diverges)...
    np.testing.assert_allclose(together.train_loss[1], alone.train_loss[0], rtol=1e-5)
    np.testing.assert_array_equal(together.val_accuracy[1], alone.val_accuracy[0])  # ...alone
    again = train_stack([base], split, depth=2, width=8, epochs=3, batch_size=10)
    np.testing.assert_array_equal(again.train_loss, alone.train_loss)
    assert alone.val_accuracy.shape == (1, 3) and list(alone.epochs) == [1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"trials": []}, r"trials must hold at least one trial, got \[\]"),
        ({"trials": [{"lr": 0.1}]}, r"unknown hyperparameters \['lr'\]"),
        ({"trials": [{"width": 9}]}, r"\[1, 8\].*got 9"),
        ({"trials": [{"learning_rate": 0.0}]}, "learning_rate must be positive, got 0.0"),
        ({"optimizer": "rmsprop"}, "'rmsprop'"),
        ({"batch_size": 0}, r"batch_size must be an int in \[1, 40\], got 0"),
        ({"epochs": 0}, "epochs must be a positive int, got 0"),
    ],
)
def test_train_stack_rejects_bad_arguments(kwargs: dict, words: str) -> None:
    args = {"trials": [{}], "optimizer": "adam", "batch_size": 10, "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=words):
        train_stack(args.pop("trials"), _tiny_split(), depth=1, width=8, **args)
