"""ScratchBatchNormalization against the trusted reference, keras.layers.BatchNormalization."""

from __future__ import annotations

import ast
import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion import keras_bn
from companion.compat import builtin_bn_accepts, keras_version
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
    # The keys of the installed built-in's config (Keras before 3.14 has no renorm keys).
    assert set(config) == set(keras.layers.BatchNormalization().get_config())


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
    # Batch Renorm and (outside a strategy) synchronized statistics reach none of them either.
    clip = {"rmin": 1.0, "rmax": 1.0, "dmax": 0.0}  # r = 1, d = 0: plain BN
    renorm = ScratchBatchNormalization(renorm=True, renorm_clipping=clip, synchronized=True)
    np.testing.assert_allclose(renorm(x, training=True), expected, **TOL)


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


# ----------------------------------------------------------------------------------------
# The behaviours Keras's own tests check for its layer (keras-team/keras,
# keras/src/layers/normalization/batch_normalization_test.py), each checked here for the
# twin next to the built-in layer. Renorm's are in test_keras_bn_renorm.py, synchronized
# statistics under tf.distribute in test_keras_bn_distributed.py.

PAIR = (keras.layers.BatchNormalization, ScratchBatchNormalization)


def _skip_unless_builtin_accepts(kwargs):
    missing = [arg for arg in kwargs if not builtin_bn_accepts(arg)]
    if missing:
        pytest.skip(f"keras {keras_version()}: the built-in BatchNormalization lacks {missing}")


# (arguments, input shape, trainable weights, non-trainable weights, regularization losses)
BASICS = [
    ({"center": True, "scale": True}, (2, 3), 2, 2, 0),
    ({"center": False, "scale": False}, (2, 3), 0, 2, 0),
    ({"beta_regularizer": "l2", "gamma_regularizer": "l2"}, (2, 4, 4, 3), 2, 2, 2),
    ({"renorm": True}, (2, 3), 2, 5, 0),
    (
        {"renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.3, "dmax": 5.0}},
        (2, 4, 4, 3),
        2,
        5,
        0,
    ),
]
BASICS_IDS = ["vector", "no-center-no-scale", "image-regularized", "renorm", "renorm-clipped"]


def _profile(cls, kwargs, shape):
    """What Keras's generic layer test looks at, for one layer class."""
    x = _data(shape)
    layer = cls(**kwargs)
    out = layer(x, training=True)
    symbolic = cls(**kwargs)(keras.KerasTensor((None, *shape[1:])), training=True)
    fresh = cls(**kwargs)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(fresh)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is cls and revived.get_config() == fresh.get_config()
    assert set(dir(revived)) == set(dir(fresh))
    half = cls(**kwargs, dtype="mixed_float16")
    half_out = half(x, training=True)
    model = keras.Sequential([keras.Input(shape[1:]), cls(**kwargs)])
    model.compile("sgd", "mse")
    history = model.fit(x, x, epochs=1, verbose=0)
    return {
        "output shape": tuple(out.shape),
        "counts": (len(layer.trainable_weights), len(layer.non_trainable_weights)),
        "losses": len(layer.losses),
        "supports_masking": layer.supports_masking,
        "symbolic": (tuple(symbolic.shape), symbolic.dtype),
        "half": (half_out.dtype.name, {w.dtype for w in half.weights}),
        "finite loss": bool(np.isfinite(history.history["loss"][0])),
    }


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.parametrize(
    ("kwargs", "shape", "trainable", "fixed", "losses"), BASICS, ids=BASICS_IDS
)
def test_layer_basics_like_builtin(kwargs, shape, trainable, fixed, losses):
    _skip_unless_builtin_accepts(kwargs)
    builtin, scratch = (_profile(cls, kwargs, shape) for cls in PAIR)
    assert scratch == builtin
    assert scratch["counts"] == (trainable, fixed) and scratch["losses"] == losses
    assert scratch["output shape"] == shape and scratch["symbolic"] == (
        (None, *shape[1:]),
        "float32",
    )
    assert scratch["half"] == ("float16", {"float32"}) and scratch["supports_masking"]


@pytest.mark.parametrize("moving_variance_initializer", ["zeros", "ones"])
@pytest.mark.parametrize("moving_mean_initializer", ["zeros", "ones"])
@pytest.mark.parametrize("shape", [(5, 2, 3), (5, 3, 3, 2)], ids=["rank3", "rank4"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_training_and_inference_like_builtin(
    axis, shape, moving_mean_initializer, moving_variance_initializer
):
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 10.0, shape).astype("float32")
    kwargs = {
        "axis": axis,
        "momentum": 0.0,
        "moving_mean_initializer": moving_mean_initializer,
        "moving_variance_initializer": moving_variance_initializer,
    }
    outputs = {}
    for cls in PAIR:
        layer = cls(**kwargs)
        out, inputs = x, []
        for _ in range(3):  # normalizing normalized data: mean 0, variance about 1
            inputs.append(np.asarray(out))
            out = layer(out, training=True)
        before = layer(x, training=False)  # statistics of normalized data, not of x
        trained = layer(x, training=True)
        after = layer(x, training=False)  # momentum 0: now x's own statistics
        masked_x = x.copy()
        masked_x[:, 1] = 0.0
        masking = keras.layers.Masking()(masked_x)
        outputs[cls] = [out, before, trained, after]
        outputs[cls] += [layer(masked_x, training=False), layer(masking, training=False)]
        outputs[cls] += [layer(masking, training=True), layer(masked_x, training=True)]

    ours, theirs = outputs[ScratchBatchNormalization], outputs[keras.layers.BatchNormalization]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    out, before, trained, after, plain_inf, masked_inf, masked_train, plain_train = ours
    axes = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    np.testing.assert_allclose(np.mean(out, axis=axes), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.std(out, axis=axes), 1.0, atol=1e-3)
    assert not np.allclose(before, trained, atol=1e-2)
    np.testing.assert_allclose(after, trained, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(masked_inf, plain_inf, rtol=1e-6)  # a mask changes training only
    assert not np.allclose(masked_train, plain_inf, atol=1e-2)
    if axis == -1:  # (with axis=1 on rank 3, the mask hides a whole feature: no change)
        assert not np.allclose(masked_train, plain_train, atol=1e-2)


@pytest.mark.parametrize("synchronized", [False, True])
def test_fully_masked_input_gives_zeros(synchronized):
    x, mask = np.zeros((4, 5), "float32"), np.zeros((4,), "float32")
    for cls in PAIR:
        layer = cls(scale=False, center=False, synchronized=synchronized)
        np.testing.assert_array_equal(layer(x, mask=mask, training=True), np.zeros_like(x))
        np.testing.assert_array_equal(layer.moving_mean, np.zeros(5))


@pytest.mark.parametrize("run_eagerly", [True, False], ids=["eager", "graph"])
def test_fit_ignores_masked_steps(run_eagerly):
    # Ten sequences of two real steps, (1, 5) and (2, 5), then two padding steps, for three
    # padding values; one model holds both layers for each (one compile for all six).
    data, outputs, bns = [], [], []
    for mask_value in (0.0, 0.1, 1.0):
        padding = [mask_value, mask_value]
        data.append(np.array([[[1, 5], [2, 5], padding, padding]] * 10, "float32"))
        inputs = keras.Input((None, 2))
        masked = keras.layers.Masking(mask_value=mask_value)(inputs)
        bns += [cls(momentum=0.0) for cls in PAIR]
        outputs += [(inputs, bn(masked)) for bn in bns[-2:]]
    model = keras.Model([i for i, _ in outputs[::2]], [o for _, o in outputs])
    model.compile("rmsprop", ["mse"] * 6, run_eagerly=run_eagerly)
    model.fit(data, [d for d in data for _ in PAIR], batch_size=10, epochs=5, verbose=0)
    for bn in bns:
        np.testing.assert_allclose(bn.moving_mean, [1.5, 5.0], atol=1e-5)
        np.testing.assert_allclose(bn.moving_variance, [0.25, 0.0], atol=1e-5)


def test_trainable_switches_inference_mode_and_weights_like_builtin():
    x = np.random.default_rng(0).normal(5.0, 10.0, (200, 4, 4, 3)).astype("float32")
    outputs = {}
    for cls in PAIR:
        layer = cls(momentum=0.8, epsilon=1e-7)
        layer.build((1, 4, 4, 3))
        layer.trainable = False
        counts = [(len(layer.weights), len(layer.trainable_weights))]
        frozen = layer(x, training=True)  # inference with moving statistics 0 and 1
        layer.trainable = True
        counts.append((len(layer.weights), len(layer.trainable_weights)))
        for _ in range(10):
            out = layer(x, training=True)
        outputs[cls] = (counts, frozen, out)
    (counts, frozen, out), theirs = outputs[ScratchBatchNormalization], outputs[PAIR[0]]
    assert counts == theirs[0] == [(4, 0), (4, 2)]
    np.testing.assert_allclose(frozen, x, rtol=1e-6)
    np.testing.assert_allclose(frozen, theirs[1], rtol=1e-6)
    np.testing.assert_allclose(out, theirs[2], **TOL)
    np.testing.assert_allclose(np.mean(out, axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.std(out, axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_moving_variance_beyond_float16_range(mixed_policy):
    # 70000 is past float16's largest value; the statistics stay float32 inside the
    # layer's autocast call, so the output is 100 / sqrt(70000), not 100 / inf = 0.
    x = np.full((2, 3), 100.0, "float32")
    for cls in PAIR:
        layer = cls()
        layer.build((None, 3))
        layer.moving_variance.assign(np.full(3, 70000.0, "float32"))
        assert layer.moving_variance.dtype == "float32"
        np.testing.assert_array_equal(layer.moving_variance, np.full(3, 70000.0))
        out = keras.ops.cast(layer(keras.ops.cast(x, layer.compute_dtype)), "float32")
        np.testing.assert_allclose(out, 100.0 / np.sqrt(70000.0), rtol=1e-2)


def test_mask_broadcasts_over_the_inner_axes():
    x = np.ones((1, 2, 3, 4), "float32")
    mask = np.ones((1, 2, 1), "float32")  # broadcast to (1, 2, 3), then over the features
    for cls in PAIR:
        layer = cls(momentum=0.0)
        y = layer(x, training=True, mask=mask)
        np.testing.assert_allclose(y, np.zeros_like(x), atol=1e-6)
        np.testing.assert_allclose(layer.moving_mean, np.ones(4), atol=1e-6)
        np.testing.assert_allclose(layer.moving_variance, np.zeros(4), atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_boundaries_are_accepted(momentum):
    layer = ScratchBatchNormalization(momentum=momentum)
    x = _data((8, 3))
    layer.build(x.shape)
    before = layer.get_weights()
    layer(x, training=True)
    kept = [np.array_equal(a, b) for a, b in zip(before, layer.get_weights(), strict=True)]
    # gamma and beta never change in a call; with momentum 1 the statistics do not either.
    assert kept == [True, True] + [momentum == 1.0] * 2


# ----------------------------------------------------------------------------------------
# Configs and saved models, both ways.


def test_builtin_config_loads_into_scratch_and_back():
    config = keras.layers.BatchNormalization().get_config()
    assert ScratchBatchNormalization.from_config(config).get_config() == config


def _non_default_kwargs():
    kwargs = {
        "axis": 1,
        "momentum": 0.9,
        "epsilon": 1e-4,
        "center": False,
        "gamma_initializer": "random_normal",
        "moving_mean_initializer": keras.initializers.Constant(0.5),
        "gamma_regularizer": keras.regularizers.L2(0.01),
        "gamma_constraint": "non_neg",
        "synchronized": True,
        "renorm": True,
        "renorm_clipping": {"rmax": 2.0, "dmax": 1.0},
        "renorm_momentum": 0.8,
        "name": "bn",
        "dtype": "mixed_float16",
    }
    return {k: v for k, v in kwargs.items() if k in {"name", "dtype"} or builtin_bn_accepts(k)}


def test_configs_load_both_ways():
    kwargs = _non_default_kwargs()
    builtin_config = keras.layers.BatchNormalization(**kwargs).get_config()
    scratch_config = ScratchBatchNormalization(**kwargs).get_config()
    assert scratch_config == builtin_config
    assert ScratchBatchNormalization.from_config(builtin_config).get_config() == builtin_config
    as_builtin = keras.layers.BatchNormalization.from_config(scratch_config)
    assert as_builtin.get_config() == scratch_config
    # Through JSON, as in a .keras file.
    revived = ScratchBatchNormalization.from_config(json.loads(json.dumps(builtin_config)))
    assert revived.get_config() == builtin_config


def _swap_batch_norm(model, cls):
    """A copy of `model` with every BN layer rebuilt as `cls` from its config; same weights."""

    def clone(layer):
        bn = isinstance(layer, PAIR)
        return (cls if bn else layer.__class__).from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def test_builtin_keras_file_becomes_a_scratch_model_and_back(tmp_path):
    shape, axis = LAYOUTS[2]
    model = _model(keras.layers.BatchNormalization, shape, axis)
    x = _data((32, *shape[1:]))
    model.compile("sgd", "mse")
    model.fit(x, np.ones((32, 1), "float32"), epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "builtin.keras")

    loaded = keras.saving.load_model(tmp_path / "builtin.keras")
    scratch = _swap_batch_norm(loaded, ScratchBatchNormalization)
    assert isinstance(scratch.layers[2], ScratchBatchNormalization)
    np.testing.assert_allclose(scratch.predict(x, verbose=0), model.predict(x, verbose=0), **TOL)
    scratch.save(tmp_path / "scratch.keras")
    back = _swap_batch_norm(
        keras.saving.load_model(tmp_path / "scratch.keras"), keras.layers.BatchNormalization
    )
    assert type(back.layers[2]) is keras.layers.BatchNormalization
    assert back.layers[2].get_config() == model.layers[2].get_config()
    np.testing.assert_allclose(back(x, training=True), model(x, training=True), **TOL)


def test_synchronized_outside_a_strategy_is_plain_bn():
    x = _data((16, 3))
    layers = [cls(synchronized=s) for cls in PAIR for s in (False, True)]
    outputs = [layer(x, training=True) for layer in layers]
    for out in outputs[1:]:
        np.testing.assert_allclose(out, outputs[0], **TOL)
    for layer in layers[1:]:
        np.testing.assert_allclose(layer.moving_variance, layers[0].moving_variance, **TOL)


def test_synchronized_needs_the_tensorflow_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="synchronized=True.*'jax'"):
        ScratchBatchNormalization(synchronized=True)
    ScratchBatchNormalization(synchronized=False)
