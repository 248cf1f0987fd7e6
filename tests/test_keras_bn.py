"""ScratchBatchNormalization against the trusted reference, keras.layers.BatchNormalization."""

from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion import keras_bn
from companion.keras_bn import ScratchBatchNormalization

# (input shape, feature axis): dense features, channels-last and channels-first images.
LAYOUTS = [((16, 6), -1), ((8, 5, 4, 3), -1), ((8, 3, 5, 4), 1)]
LAYOUT_IDS = ["N,D", "N,H,W,C", "N,C,H,W"]
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _data(shape, seed=0, loc=2.0, spread=3.0):
    rng = np.random.default_rng(seed)
    return (loc + spread * rng.standard_normal(shape)).astype("float32")


def _random_weights(layer, seed=1):
    """Non-default gamma, beta and moving statistics, so that swapping them is tested."""
    rng = np.random.default_rng(seed)
    values = {
        "gamma": rng.uniform(0.5, 1.5, layer.moving_mean.shape),
        "beta": rng.standard_normal(layer.moving_mean.shape),
        "moving_mean": rng.standard_normal(layer.moving_mean.shape),
        "moving_variance": rng.uniform(0.5, 2.0, layer.moving_mean.shape),
    }
    layer.set_weights([values[w.name].astype("float32") for w in layer.weights])


def _pair(shape, axis, **kwargs):
    builtin = keras.layers.BatchNormalization(axis=axis, **kwargs)
    scratch = ScratchBatchNormalization(axis=axis, **kwargs)
    builtin.build(shape)
    scratch.build(shape)
    return builtin, scratch


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scale", [True, False])
def test_weights_named_and_ordered_like_builtin(center, scale):
    builtin, scratch = _pair((8, 4), -1, center=center, scale=scale)
    assert [w.name for w in scratch.weights] == [w.name for w in builtin.weights]
    assert [w.trainable for w in scratch.weights] == [w.trainable for w in builtin.weights]
    _random_weights(builtin)
    scratch.set_weights(builtin.get_weights())
    x = _data((8, 4))
    np.testing.assert_allclose(scratch(x, training=True), builtin(x, training=True), **TOL)


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("direction", ["builtin->scratch", "scratch->builtin"])
def test_outputs_and_moving_statistics_match_builtin(shape, axis, direction):
    builtin, scratch = _pair(shape, axis, momentum=0.9)
    source, target = (builtin, scratch) if direction == "builtin->scratch" else (scratch, builtin)
    _random_weights(source)
    initial = source.get_weights()
    target.set_weights(initial)

    x = _data(shape)
    np.testing.assert_allclose(scratch(x, training=False), builtin(x, training=False), **TOL)
    for step in range(3):
        x = _data(shape, seed=10 + step)
        np.testing.assert_allclose(scratch(x, training=True), builtin(x, training=True), **TOL)
    # Three updates moved the statistics far from where they started, and the same way.
    assert not np.allclose(scratch.moving_mean, initial[-2])
    for ours, theirs in zip(scratch.weights, builtin.weights, strict=True):
        np.testing.assert_allclose(ours, theirs, **TOL)
    np.testing.assert_allclose(scratch(x, training=False), builtin(x, training=False), **TOL)


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_builtin(shape, axis, training):
    builtin, scratch = _pair(shape, axis)
    _random_weights(builtin)
    scratch.set_weights(builtin.get_weights())
    x = tf.constant(_data(shape))
    dy = tf.constant(_data(shape, seed=5, loc=0.0, spread=1.0))

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=training) * dy)
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    for ours, theirs in zip(gradients(scratch), gradients(builtin), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _model(layer_cls, shape, axis):
    inputs = keras.Input(shape[1:])
    h = keras.layers.Dense(4)(inputs)
    h = layer_cls(axis=axis, momentum=0.8)(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def _train_both(shape, axis, jit_compile, frozen=False):
    """Train the same model with each layer from the same initial weights."""
    x = _data((64, *shape[1:]), seed=3)
    y = np.random.default_rng(4).standard_normal((64, 1)).astype("float32")
    models = [
        _model(cls, shape, axis)
        for cls in (keras.layers.BatchNormalization, ScratchBatchNormalization)
    ]
    models[1].set_weights(models[0].get_weights())
    initial = models[0].get_weights()
    for model in models:
        model.layers[2].trainable = not frozen
        model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit_compile)
        model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    return models, initial, x


# XLA compiles slowly on CPU: compile the hardest layout (axis=1) only.
FIT_CASES = [(*layout, False) for layout in LAYOUTS] + [(*LAYOUTS[2], True)]
FIT_IDS = [f"graph-{name}" for name in LAYOUT_IDS] + [f"xla-{LAYOUT_IDS[2]}"]


@pytest.mark.parametrize(("shape", "axis", "jit_compile"), FIT_CASES, ids=FIT_IDS)
def test_fit_gives_the_same_model(shape, axis, jit_compile):
    (builtin, scratch), initial, x = _train_both(shape, axis, jit_compile)
    assert not np.allclose(scratch.layers[2].moving_mean, initial[4])
    for ours, theirs in zip(scratch.get_weights(), builtin.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scratch(x), builtin(x), atol=1e-4)


def test_trainable_false_means_inference_mode():
    shape, axis = LAYOUTS[1]
    builtin, scratch = _pair(shape, axis)
    _random_weights(builtin)
    scratch.set_weights(builtin.get_weights())
    frozen = scratch.get_weights()
    builtin.trainable = scratch.trainable = False
    assert scratch.trainable_weights == [] and len(scratch.non_trainable_weights) == 4

    x = _data(shape)
    out = scratch(x, training=True)
    np.testing.assert_allclose(out, builtin(x, training=True), **TOL)
    np.testing.assert_allclose(out, scratch(x, training=False), **TOL)
    for before, after in zip(frozen, scratch.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_frozen_layer_stays_frozen_in_fit():
    (builtin, scratch), initial, x = _train_both(*LAYOUTS[0], jit_compile=False, frozen=True)
    bn_weights = scratch.layers[2].get_weights()
    for before, after in zip(initial[2:6], bn_weights, strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(scratch(x), builtin(x), atol=1e-4)


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
def test_mixed_precision_matches_builtin(mixed_policy, shape, axis):
    builtin, scratch = _pair(shape, axis)
    _random_weights(builtin)
    scratch.set_weights(builtin.get_weights())
    half = builtin.compute_dtype
    assert scratch.compute_dtype == half and scratch.moving_mean.dtype == "float32"

    x = keras.ops.cast(_data(shape), half)
    for training in (True, False):
        ours, theirs = scratch(x, training=training), builtin(x, training=training)
        assert keras.backend.standardize_dtype(ours.dtype) == half
        np.testing.assert_allclose(
            keras.ops.cast(ours, "float32"), keras.ops.cast(theirs, "float32"), rtol=1e-2, atol=1e-2
        )
    np.testing.assert_allclose(scratch.moving_variance, builtin.moving_variance, rtol=1e-6)


def test_half_precision_statistics_are_computed_in_float32(mixed_policy):
    # Summing 512 values near 300 reaches 153600, past float16's largest value (65504).
    x = _data((512, 2), loc=300.0, spread=1.0)
    scratch = ScratchBatchNormalization(momentum=0.0)
    out = scratch(keras.ops.cast(x, scratch.compute_dtype), training=True)
    assert np.all(np.isfinite(keras.ops.cast(out, "float32")))
    x_half = keras.ops.convert_to_numpy(keras.ops.cast(x, scratch.compute_dtype)).astype("float64")
    np.testing.assert_allclose(scratch.moving_mean, x_half.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scratch.moving_variance, x_half.var(axis=0), rtol=1e-3)


def test_mask_matches_builtin():
    x = _data((4, 6, 3))
    mask = np.random.default_rng(2).random((4, 6)) > 0.4
    builtin, scratch = _pair(x.shape, -1)
    for training in (True, False):
        np.testing.assert_allclose(
            scratch(x, training=training, mask=mask),
            builtin(x, training=training, mask=mask),
            **TOL,
        )
    np.testing.assert_allclose(scratch.moving_mean, builtin.moving_mean, **TOL)
    np.testing.assert_allclose(scratch.moving_variance, builtin.moving_variance, **TOL)
    unmasked = ScratchBatchNormalization()
    unmasked(x, training=True)
    assert not np.allclose(unmasked.moving_mean, scratch.moving_mean)


def test_save_and_load_keras_file(tmp_path):
    shape, axis = LAYOUTS[2]
    model = _model(ScratchBatchNormalization, shape, axis)
    x = _data((32, *shape[1:]))
    model.compile("sgd", "mse")
    model.fit(x, np.ones((32, 1), "float32"), epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)  # registered: no custom_objects needed
    layer = loaded.layers[2]
    assert isinstance(layer, ScratchBatchNormalization)
    assert layer.get_config() == model.layers[2].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_get_config_round_trip_and_completeness():
    layer = ScratchBatchNormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=False,
        gamma_initializer="random_normal",
        moving_variance_initializer=keras.initializers.Constant(2.0),
        gamma_regularizer="l2",
        gamma_constraint="non_neg",
        name="bn",
    )
    config = layer.get_config()
    assert ScratchBatchNormalization.from_config(config).get_config() == config
    assert config["momentum"] == 0.9 and config["epsilon"] == 1e-5 and config["axis"] == 1
    unsupported = {"renorm", "renorm_clipping", "renorm_momentum", "synchronized"}
    assert set(config) == set(keras.layers.BatchNormalization().get_config()) - unsupported


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"momentum": 1.5}, "momentum=1.5"),
        ({"momentum": -0.1}, "momentum=-0.1"),
        ({"epsilon": 0.0}, "epsilon=0.0"),
        ({"epsilon": -1e-3}, "epsilon=-0.001"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScratchBatchNormalization(**kwargs)


@pytest.mark.parametrize("axis", [2, -3])
def test_axis_that_does_not_fit_raises(axis):
    with pytest.raises(ValueError, match=rf"axis={axis}") as info:
        ScratchBatchNormalization(axis=axis)(np.zeros((4, 5), "float32"))
    assert "(4, 5)" in str(info.value)


FORBIDDEN = {"batch_normalization", "fused_batch_norm", "moments", "BatchNormalization"}


def test_source_uses_no_library_batch_norm(monkeypatch):
    # Identifiers in code (names, attributes, imports); docstrings may mention them.
    tree = ast.parse(inspect.getsource(keras_bn))
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {
        a.name.split(".")[-1]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom | ast.Import)
        for a in n.names
    }
    assert used & FORBIDDEN == set()

    # And at run time: the library routines are never reached.
    def forbidden(*args, **kwargs):
        raise AssertionError("library batch norm called")

    for module, name in [
        (tf.nn, "batch_normalization"),
        (tf.nn, "fused_batch_norm"),
        (tf.nn, "moments"),
        (keras.ops, "batch_normalization"),
        (keras.ops, "moments"),
    ]:
        monkeypatch.setattr(module, name, forbidden, raising=False)
    layer = ScratchBatchNormalization(momentum=0.0, epsilon=1e-3)
    x = _data((16, 3))
    out = layer(x, training=True)
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3)
    np.testing.assert_allclose(out, expected, **TOL)
    np.testing.assert_allclose(layer(x, training=False), expected, **TOL)


def test_variance_is_numerically_stable():
    x = _data((1000, 3), loc=1000.0, spread=0.1)
    exact = x.astype("float64").var(axis=0)
    layer = ScratchBatchNormalization(momentum=0.0)
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_variance, exact, rtol=1e-3)

    # The textbook one-pass E[x^2] - E[x]^2 in float32 misses by far more than 1e-3.
    mean = keras.ops.mean(x, axis=0)
    one_pass = keras.ops.mean(keras.ops.square(x), axis=0) - keras.ops.square(mean)
    assert np.max(np.abs(np.asarray(one_pass) / exact - 1.0)) > 1e-3
