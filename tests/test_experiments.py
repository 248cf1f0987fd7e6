"""Tests of companion.experiments: small models and few steps, so the file runs in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from companion.data import Split
from companion.experiments import (
    MLP,
    RandomAffineNoise,
    batch_indices,
    domain_classifier_test,
    gradient_norms,
    ks_test,
    median_jump,
    median_spread,
    percentile_drift,
    steps_to_accuracy,
    train_classifier,
    train_with_landscape,
)


@pytest.fixture(scope="module")
def split() -> Split:
    """A tiny 3-class problem with 12 features that a small MLP learns in a few steps."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 2.0, size=(3, 12))
    y = rng.integers(0, 3, size=300)
    x = (centers[y] + rng.normal(size=(300, 12))).astype(np.float32)
    return Split(x[:240], x[240:], y[:240].astype(np.int64), y[240:].astype(np.int64))


def small_mlp(**kwargs) -> MLP:
    return MLP((16, 16), num_classes=3, **kwargs)


# ---- the model -------------------------------------------------------------------


@pytest.mark.parametrize("batch_norm", [False, True])
def test_forward_shapes(batch_norm: bool) -> None:
    model = small_mlp(batch_norm=batch_norm)
    logits, pre, hidden = model.forward(np.zeros((5, 12), np.float32))
    assert logits.shape == (5, 3)
    assert [tuple(z.shape) for z in pre] == [(5, 16), (5, 16)]
    assert [tuple(h.shape) for h in hidden] == [(5, 16), (5, 16)]
    assert len(model.kernels) == 3


def test_bn_layers_sit_before_the_sigmoid() -> None:
    model = small_mlp(batch_norm=True)
    x = np.random.default_rng(1).normal(size=(64, 12)).astype(np.float32)
    _, pre, hidden = model.forward(x, training=True)
    # BN (gamma=1, beta=0 at initialization) standardizes each pre-activation.
    np.testing.assert_allclose(np.mean(pre[0], axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(pre[0], axis=0), 1.0, atol=0.02)
    np.testing.assert_allclose(hidden[0], tf.sigmoid(pre[0]), atol=1e-6)
    assert all(not d.use_bias for d in model.dense_layers)


def test_same_seed_same_weights_different_seed_different_weights() -> None:
    x = np.ones((2, 12), np.float32)
    a, b, c = small_mlp(seed=3), small_mlp(seed=3), small_mlp(seed=4)
    np.testing.assert_array_equal(a(x), b(x))
    assert not np.allclose(a(x), c(x))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"hidden_units": ()}, "hidden_units"),
        ({"hidden_units": (8, 0)}, "hidden_units"),
        ({"num_classes": 0}, "num_classes"),
        ({"activation": "softplus"}, "activation"),
        ({"init_stddev": 0.0}, "init_stddev"),
        ({"noise_shift": 1.0}, "batch_norm=True"),
    ],
)
def test_mlp_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MLP(**kwargs)


# ---- noisy BN --------------------------------------------------------------------


def test_noise_changes_every_step_and_is_off_at_inference() -> None:
    layer = RandomAffineNoise(max_shift=1.0, max_scale=2.0, seed=0)
    x = tf.ones((4, 5))
    draws = []
    for _ in range(3):
        y = layer(x, training=True)
        draws.append((layer.last_scale.numpy().copy(), layer.last_shift.numpy().copy()))
        # One shift and scale per feature, shared by the whole batch.
        np.testing.assert_allclose(y, np.broadcast_to(draws[-1][0] + draws[-1][1], (4, 5)))
    for (s0, b0), (s1, b1) in zip(draws, draws[1:], strict=False):
        assert not np.allclose(s0, s1) and not np.allclose(b0, b1)
    scales = np.array([d[0] for d in draws])
    shifts = np.array([d[1] for d in draws])
    assert scales.min() >= 1.0 and scales.max() <= 2.0
    assert np.abs(shifts).max() <= 1.0
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_noise_changes_every_step_inside_a_compiled_function() -> None:
    layer = RandomAffineNoise(max_shift=0.5, max_scale=1.5, seed=1)
    call = tf.function(lambda x: layer(x, training=True))
    x = tf.zeros((2, 3))
    first, second = call(x).numpy(), call(x).numpy()
    assert not np.allclose(first, second)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"max_shift": -0.1}, "max_shift"), ({"max_scale": 0.5}, "max_scale")],
)
def test_noise_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RandomAffineNoise(**kwargs)


# ---- training and its records ----------------------------------------------------


def test_batch_indices_cover_each_epoch_once() -> None:
    order = batch_indices(10, 3, 7, seed=0)
    assert order.shape == (7, 3)
    first_epoch = order[:3].ravel()  # 3 batches of 3 per epoch, one example dropped
    assert len(set(first_epoch)) == 9
    np.testing.assert_array_equal(order, batch_indices(10, 3, 7, seed=0))
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(10, 11, 1, seed=0)


def test_training_record_shapes_and_ordered_percentiles(split: Split) -> None:
    record = train_classifier(
        small_mlp(batch_norm=True), split, steps=40, learning_rate=0.5, record_every=10
    )
    assert record.steps.tolist() == [0, 10, 20, 30, 40]
    assert record.test_accuracy.shape == record.test_loss.shape == (5,)
    assert record.percentiles.shape == (5, 3)
    p = record.percentiles
    assert np.all(p[:, 0] < p[:, 1]) and np.all(p[:, 1] < p[:, 2])
    # Training works: the test loss falls and accuracy beats chance (1/3).
    assert record.test_loss[-1] < record.test_loss[0]
    assert record.test_accuracy[-1] > 0.6


def test_training_is_deterministic_given_the_seeds(split: Split) -> None:
    def run(seed: int):
        model = small_mlp(batch_norm=True, noise_shift=0.5, noise_scale=1.5, seed=seed)
        return train_classifier(
            model, split, steps=20, learning_rate=0.5, record_every=10, seed=seed
        )

    a, b, c = run(0), run(0), run(1)
    np.testing.assert_array_equal(a.percentiles, b.percentiles)
    np.testing.assert_array_equal(a.test_loss, b.test_loss)
    assert not np.array_equal(a.percentiles, c.percentiles)


def test_recording_does_not_touch_the_moving_averages(split: Split) -> None:
    model = small_mlp(batch_norm=True, bn_momentum=0.9)
    model(split.x_train[:2])
    kernel = model.dense_layers[0].kernel.numpy().copy()
    # Two measurements (steps 0 and 1) around one training step.
    train_classifier(model, split, steps=1, learning_rate=0.1, record_every=1, seed=5)
    first_batch = split.x_train[batch_indices(len(split.y_train), 60, 1, seed=5)[0]]
    expected = 0.1 * (first_batch @ kernel).mean(axis=0)  # one update from zero
    np.testing.assert_allclose(model.bn_layers[0].moving_mean.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"record_every": 50}, "record_every"),
        ({"unit": 16}, "unit"),
    ],
)
def test_train_classifier_rejects_bad_arguments(split: Split, kwargs: dict, name: str) -> None:
    args = {"steps": 10, "learning_rate": 0.1, "record_every": 5} | kwargs
    with pytest.raises(ValueError, match=name):
        train_classifier(small_mlp(), split, **args)


def test_train_classifier_rejects_a_tuple_for_split(split: Split) -> None:
    with pytest.raises(ValueError, match="split"):
        train_classifier(small_mlp(), tuple(split), steps=2, learning_rate=0.1, record_every=1)


def test_steps_to_accuracy_and_percentile_drift() -> None:
    from companion.experiments import TrainingRecord

    acc = np.array([0.1, 0.5, 0.92, 0.95])
    record = TrainingRecord(np.array([0, 10, 20, 30]), acc, acc, np.zeros((4, 3)))
    assert steps_to_accuracy(record, 0.9) == 20
    assert steps_to_accuracy(record, 0.99) is None
    with pytest.raises(ValueError, match="target"):
        steps_to_accuracy(record, 1.5)
    still = np.tile([-1.0, 0.0, 1.0], (5, 1))
    assert percentile_drift(still) == 0.0
    moving = still + np.arange(5)[:, None]  # the median climbs by 4 widths of 2
    assert percentile_drift(moving) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="percentiles"):
        percentile_drift(np.zeros((5, 2)))


def test_median_spread_and_jump_tell_wandering_from_jitter() -> None:
    steps = np.arange(8, dtype=float)
    still = np.tile([-1.0, 0.0, 1.0], (8, 1))  # width 2
    wander = still + steps[:, None]  # the median climbs by one unit per record
    jitter = still + np.where(steps % 2 == 0, 1.0, -1.0)[:, None]  # +1, -1, +1, ...
    assert median_spread(still) == 0.0 and median_jump(still) == 0.0
    assert median_spread(wander) == pytest.approx(np.std(steps) / 2)
    assert median_jump(wander) == pytest.approx(0.5)
    assert median_spread(jitter) == pytest.approx(0.5)
    assert median_jump(jitter) == pytest.approx(1.0)
    # The drift sees only the extremes: it cannot tell the jitter from a steady climb of 2.
    assert percentile_drift(jitter) == percentile_drift(still + steps[:, None] * 2 / 7)


@pytest.mark.parametrize("measure", [percentile_drift, median_spread, median_jump])
@pytest.mark.parametrize("shape", [(5, 2), (1, 3), (3,)])
def test_stability_measures_reject_bad_shapes(measure, shape) -> None:
    with pytest.raises(ValueError, match=r"percentiles must have shape.*" + str(shape[0])):
        measure(np.zeros(shape))


@pytest.mark.parametrize("measure", [percentile_drift, median_spread, median_jump])
def test_stability_measures_reject_zero_width(measure) -> None:
    with pytest.raises(ValueError, match="width"):
        measure(np.zeros((4, 3)))


# ---- gradients -------------------------------------------------------------------


def test_gradient_norms_count_sign_and_vanishing(split: Split) -> None:
    x, y = split.x_train[:64], split.y_train[:64]
    deep = MLP((16,) * 8, num_classes=3, init_stddev=0.1)
    norms = gradient_norms(deep, x, y)
    assert norms.kernels.shape == (9,) and norms.activations.shape == (8,)
    assert np.all(norms.kernels > 0) and np.all(norms.activations > 0)
    # Sigmoid with small weights: each layer shrinks the gradient by 4x or more.
    assert norms.activations[0] < 1e-3 * norms.activations[-1]
    with_bn = gradient_norms(MLP((16,) * 8, num_classes=3, init_stddev=0.1, batch_norm=True), x, y)
    assert with_bn.activations[0] > 0.1 * with_bn.activations[-1]


def test_gradient_norms_agree_with_a_plain_tape_and_leave_bn_state_alone(split: Split) -> None:
    x, y = split.x_train[:32], split.y_train[:32]
    model = small_mlp(batch_norm=True)
    norms = gradient_norms(model, x, y)
    moving = [v.numpy().copy() for v in model.non_trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x, training=True))
        )
    expected = [float(tf.norm(g)) for g in tape.gradient(loss, model.kernels)]
    np.testing.assert_allclose(norms.kernels, expected, rtol=1e-5)
    for v, before in zip(model.non_trainable_variables[:2], moving[:2], strict=True):
        assert not np.allclose(v.numpy(), before)  # the plain tape call above moved them
    model2 = small_mlp(batch_norm=True)
    model2(x[:2])
    before = [v.numpy().copy() for v in model2.non_trainable_variables]
    gradient_norms(model2, x, y)
    for v, b in zip(model2.non_trainable_variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), b)


def test_gradient_norms_rejects_mismatched_labels(split: Split) -> None:
    with pytest.raises(ValueError, match="x must be"):
        gradient_norms(small_mlp(), split.x_train[:8], split.y_train[:7])


# ---- loss landscape --------------------------------------------------------------


def test_landscape_record_and_restored_weights(split: Split) -> None:
    model = small_mlp(activation="relu", init_stddev=0.3, batch_norm=True)
    record = train_with_landscape(
        model, split, steps=30, learning_rate=0.1, step_sizes=[0.05, 0.2], record_every=10
    )
    assert record.steps.tolist() == [0, 10, 20]
    assert record.loss_range.shape == record.gradient_change.shape == (3,)
    assert np.all(record.loss_range >= 0) and np.all(record.gradient_change > 0)
    # Probing must not change training: compare with training alone.
    plain = small_mlp(activation="relu", init_stddev=0.3, batch_norm=True)
    train_with_landscape(
        plain, split, steps=30, learning_rate=0.1, step_sizes=[0.05, 0.2], record_every=30
    )
    for a, b in zip(model.variables, plain.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_landscape_rejects_bad_step_sizes(split: Split) -> None:
    with pytest.raises(ValueError, match="step_sizes"):
        train_with_landscape(
            small_mlp(), split, steps=5, learning_rate=0.1, step_sizes=[0.1], record_every=5
        )


# ---- covariate shift detectors ---------------------------------------------------


def test_shift_detectors_see_a_shift_and_no_shift_where_there_is_none() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    shifted = b + np.array([0.0, 0.0, 1.0, 0.0])
    same, moved = domain_classifier_test(a, b), domain_classifier_test(a, shifted)
    assert abs(same.auc - 0.5) < 0.1 and abs(same.mcc) < 0.2
    assert moved.auc > 0.7 and moved.mcc > 0.3
    assert ks_test(a, b) > 0.05
    assert ks_test(a, shifted) < 1e-6


def test_shift_detectors_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="same D"):
        ks_test(np.zeros((20, 3)), np.zeros((20, 4)))
    with pytest.raises(ValueError, match="folds"):
        domain_classifier_test(np.zeros((20, 3)), np.ones((20, 3)), folds=1)
