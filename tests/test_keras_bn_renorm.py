"""Batch Renormalization in ScratchBatchNormalization (`renorm=True`).

Two references: Keras's own layer, which has renorm from Keras 3.14 (those comparisons skip
on older Keras, e.g. the floor stack), and NumPy with the formulas of Ioffe (2017), which
run everywhere.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from companion.compat import builtin_bn_accepts, keras_version
from companion.keras_bn import ScratchBatchNormalization, renorm_correction

EPSILON = 1e-3
TOL = {"rtol": 1e-5, "atol": 1e-5}
RENORM_WEIGHTS = ["moving_stddev", "renorm_mean", "renorm_stddev"]
# (input shape, feature axis): dense features, channels-last and channels-first images.
LAYOUTS = [((16, 3), -1), ((8, 4, 4, 3), -1), ((8, 3, 4, 4), 1)]
LAYOUT_IDS = ["N,D", "N,H,W,C", "N,C,H,W"]
CLIPPINGS = [None, {"rmax": 1.2, "rmin": 0.9, "dmax": 0.3}]
CLIPPING_IDS = ["no-clipping", "clipped"]

needs_builtin_renorm = pytest.mark.skipif(
    not builtin_bn_accepts("renorm"),
    reason=f"keras {keras_version()}: the built-in BatchNormalization has no renorm (3.14+)",
)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _data(shape, seed=0, loc=2.0, spread=3.0):
    rng = np.random.default_rng(seed)
    return (loc + spread * rng.standard_normal(shape)).astype("float32")


def _random_weights(layer, seed=1):
    """Non-default values for every weight, so that each one is tested."""
    rng = np.random.default_rng(seed)
    shape = layer.moving_mean.shape
    values = {
        "gamma": rng.uniform(0.5, 1.5, shape),
        "beta": rng.standard_normal(shape),
        "moving_mean": rng.standard_normal(shape),
        "moving_variance": rng.uniform(0.5, 2.0, shape),
        "moving_stddev": rng.uniform(0.7, 1.4, shape),
        "renorm_mean": rng.standard_normal(shape),
        "renorm_stddev": rng.uniform(0.7, 1.4, shape),
    }
    layer.set_weights([values[w.name].astype("float32") for w in layer.weights])
    return {w.name: w.numpy() for w in layer.weights}


def _renorm_step(x, axis, w, momentum, renorm_momentum, clipping=None):
    """NumPy, float64: one training step of Batch Renorm; the output and the new weights."""
    x = x.astype("float64")
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    sigma = np.sqrt(var + EPSILON)
    renorm_stddev = np.maximum(w["renorm_stddev"], np.sqrt(EPSILON))
    r = sigma / renorm_stddev
    d = (mean - w["renorm_mean"]) / renorm_stddev
    clipping = clipping or {}
    r = np.clip(r, clipping.get("rmin", 0.0), clipping.get("rmax", np.inf))
    d = np.clip(d, -clipping.get("dmax", np.inf), clipping.get("dmax", np.inf))
    x_hat = (x - mean.reshape(shape)) / sigma.reshape(shape)
    gamma, beta = w.get("gamma", 1.0), w.get("beta", 0.0)
    y = (x_hat * np.reshape(r, shape) + np.reshape(d, shape)) * np.reshape(gamma, shape)
    y = y + np.reshape(beta, shape)
    new = dict(w)
    new["renorm_mean"] = renorm_momentum * w["renorm_mean"] + (1 - renorm_momentum) * mean
    new["renorm_stddev"] = renorm_momentum * w["renorm_stddev"] + (1 - renorm_momentum) * sigma
    new["moving_mean"] = momentum * w["moving_mean"] + (1 - momentum) * mean
    new["moving_stddev"] = momentum * w["moving_stddev"] + (1 - momentum) * sigma
    new["moving_variance"] = np.maximum(new["moving_stddev"] ** 2 - EPSILON, 0.0)
    return y, new, (r, d)


# ----------------------------------------------------------------------------------------
# Against NumPy and the paper's formulas: these run on every Keras.


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("clipping", CLIPPINGS, ids=CLIPPING_IDS)
def test_training_steps_match_numpy(shape, axis, clipping):
    layer = ScratchBatchNormalization(
        axis=axis, momentum=0.9, renorm=True, renorm_momentum=0.8, renorm_clipping=clipping
    )
    layer.build(shape)
    weights = _random_weights(layer)
    beyond = 0  # corrections outside [0.9, 1.2] and [-0.3, 0.3]: clipping has work to do
    for step in range(3):
        x = _data(shape, seed=10 + step)
        y, weights, (r, d) = _renorm_step(x, axis, weights, 0.9, 0.8, clipping)
        np.testing.assert_allclose(layer(x, training=True), y, **TOL)
        for w in layer.weights:
            np.testing.assert_allclose(w, weights[w.name], **TOL, err_msg=w.name)
        r_out, d_out = np.sum((r < 0.9) | (r > 1.2)), np.sum(np.abs(d) > 0.3)
        assert (r_out, d_out) == (0, 0) if clipping else True
        beyond += r_out + d_out
    assert beyond == 0 if clipping else beyond > 0


def test_correction_is_clipped_and_without_gradient():
    mean, variance = tf.constant([0.0, 5.0, -5.0]), tf.constant([4.0, 0.01, 100.0])
    renorm_mean, renorm_stddev = tf.constant([0.0, 0.0, 0.0]), tf.constant([1.0, 1.0, 1e-6])
    clipping = {"rmax": 3.0, "rmin": 0.5, "dmax": 2.0}
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([mean, variance])
        r, d = renorm_correction(mean, variance, renorm_mean, renorm_stddev, EPSILON, clipping)
    # Tiny renorm_stddev is raised to sqrt(epsilon); then r and d are clipped.
    sigma = np.sqrt(variance.numpy() + EPSILON)
    floor = np.maximum(renorm_stddev.numpy(), np.sqrt(EPSILON))
    np.testing.assert_allclose(r, np.clip(sigma / floor, 0.5, 3.0), rtol=1e-6)
    np.testing.assert_allclose(d, np.clip(mean.numpy() / floor, -2.0, 2.0), rtol=1e-6)
    np.testing.assert_allclose(r, [sigma[0], 0.5, 3.0], rtol=1e-6)
    np.testing.assert_allclose(d, [0.0, 2.0, -2.0], rtol=1e-6)
    assert tape.gradient(r, [mean, variance]) == [None, None]
    assert tape.gradient(d, [mean, variance]) == [None, None]


def test_zero_stddev_is_raised_to_sqrt_epsilon():
    # With moving_variance_initializer="zeros", renorm_stddev starts at 0: r and d would
    # be infinite. The floor sqrt(epsilon) keeps them finite, as in Keras.
    layer = ScratchBatchNormalization(renorm=True, moving_variance_initializer="zeros")
    layer.build((8, 3))
    weights = {w.name: w.numpy() for w in layer.weights}
    assert np.all(weights["renorm_stddev"] == 0.0)
    x = _data((8, 3), loc=0.5, spread=0.01)
    y, _, (r, d) = _renorm_step(x, -1, weights, 0.99, 0.99)
    out = layer(x, training=True)
    assert np.all(np.isfinite(out)) and np.all(r < 1.1) and np.all(d > 10.0)
    np.testing.assert_allclose(out, y, rtol=1e-4)
    if builtin_bn_accepts("renorm"):
        builtin = keras.layers.BatchNormalization(renorm=True, moving_variance_initializer="zeros")
        np.testing.assert_allclose(out, builtin(x, training=True), rtol=1e-4)


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
def test_gradient_is_that_of_bn_with_r_and_d_folded_into_gamma_and_beta(shape, axis):
    # With r and d constants, renorm's output is plain BN with gamma' = r * gamma and
    # beta' = d * gamma + beta: so are its gradients. Reference: the built-in plain BN.
    layer = ScratchBatchNormalization(axis=axis, renorm=True)
    layer.build(shape)
    w = _random_weights(layer)
    x = tf.constant(_data(shape))
    dy = tf.constant(_data(shape, seed=5, loc=0.0, spread=1.0))
    _, _, (r, d) = _renorm_step(x.numpy(), axis, w, 0.99, 0.99)
    plain = keras.layers.BatchNormalization(axis=axis)
    plain.build(shape)
    plain.set_weights(
        [r * w["gamma"], d * w["gamma"] + w["beta"], w["moving_mean"], w["moving_variance"]]
    )

    def gradients(bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(bn(x, training=True) * dy)
        return tape.gradient(loss, [x, bn.gamma, bn.beta])

    ours, theirs = gradients(layer), gradients(plain)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5)
    # d loss / d gamma = sum(dy * (x_hat * r + d)) = r * dgamma' + d * dbeta'.
    np.testing.assert_allclose(ours[1], r * theirs[1] + d * theirs[2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, False), (True, False)])
def test_inference_is_that_of_plain_bn(center, scale):
    # Renorm changes training only: with the same gamma, beta and moving statistics, the
    # inference output is plain BN's. Reference: the built-in layer without renorm.
    shape = (6, 5)
    renorm = ScratchBatchNormalization(renorm=True, center=center, scale=scale)
    renorm.build(shape)
    weights = _random_weights(renorm)
    plain = keras.layers.BatchNormalization(center=center, scale=scale)
    plain.build(shape)
    plain.set_weights([weights[w.name] for w in plain.weights])
    x = _data(shape)
    np.testing.assert_allclose(renorm(x, training=False), plain(x, training=False), **TOL)
    assert not np.allclose(renorm(x, training=True), plain(x, training=True), atol=1e-2)


def test_stddev_weights_start_at_the_square_root_of_the_variance_initializer():
    layer = ScratchBatchNormalization(
        renorm=True,
        moving_variance_initializer=keras.initializers.Constant(4.0),
        moving_mean_initializer=keras.initializers.Constant(-1.0),
    )
    layer.build((None, 5))
    expected = {"moving_variance": 4.0, "moving_stddev": 2.0, "renorm_stddev": 2.0}
    expected |= {"moving_mean": -1.0, "renorm_mean": -1.0, "gamma": 1.0, "beta": 0.0}
    assert {w.name: float(w.numpy()[0]) for w in layer.weights} == expected


def test_frozen_layer_runs_inference_and_keeps_every_statistic():
    layer = ScratchBatchNormalization(renorm=True)
    layer.build((8, 3))
    before = _random_weights(layer)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 7
    x = _data((8, 3))
    np.testing.assert_allclose(layer(x, training=True), layer(x, training=False), **TOL)
    for w in layer.weights:
        np.testing.assert_array_equal(w, before[w.name])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"renorm_clipping": {"random_key": 1.0}}, ValueError, "invalid keys.*random_key"),
        ({"renorm_clipping": {"rmax": 0.0, "rmin": 1.0}}, ValueError, "rmax=0.0, rmin=1.0"),
        ({"renorm_clipping": {"rmax": 1.0, "dmax": -1.0}}, ValueError, "dmax=-1.0"),
        ({"renorm_clipping": [("rmax", 3.0)]}, TypeError, r"renorm_clipping=\[\('rmax'"),
        ({"renorm_clipping": {"rmax": "3"}}, TypeError, "renorm_clipping.*'3'"),
        ({"renorm_momentum": 1.5}, ValueError, "renorm_momentum=1.5"),
        ({"renorm_momentum": -0.5}, ValueError, "renorm_momentum=-0.5"),
    ],
)
def test_bad_renorm_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        ScratchBatchNormalization(renorm=True, **kwargs)


def test_clipping_keys_may_be_missing_or_none():
    layer = ScratchBatchNormalization(renorm=True, renorm_clipping={"rmax": 2.0, "dmax": None})
    assert layer.get_config()["renorm_clipping"] == {"rmax": 2.0, "dmax": None}
    assert ScratchBatchNormalization(renorm=True).get_config()["renorm_clipping"] == {}
    assert ScratchBatchNormalization().get_config().get("renorm_clipping") is None


def test_save_and_load_keras_file(tmp_path):
    layer = ScratchBatchNormalization(
        renorm=True, renorm_clipping={"rmax": 3.0, "rmin": 1 / 3, "dmax": 5.0}, renorm_momentum=0.9
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), layer])
    x = _data((32, 4))
    model.compile("sgd", "mse")
    model.fit(x, x[:, :3], epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "renorm.keras")
    loaded = keras.saving.load_model(tmp_path / "renorm.keras")
    assert loaded.layers[1].get_config() == layer.get_config()
    for ours, theirs in zip(loaded.layers[1].weights, layer.weights, strict=True):
        assert ours.name == theirs.name
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded(x, training=True), model(x, training=True))


# ----------------------------------------------------------------------------------------
# Against Keras's own renorm (Keras 3.14+).


def _pair(shape, axis, **kwargs):
    builtin = keras.layers.BatchNormalization(axis=axis, renorm=True, **kwargs)
    scratch = ScratchBatchNormalization(axis=axis, renorm=True, **kwargs)
    builtin.build(shape)
    scratch.build(shape)
    return builtin, scratch


@needs_builtin_renorm
@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False)])
def test_weights_named_shaped_and_ordered_like_builtin(center, scale):
    builtin, scratch = _pair((None, 3, 4), 1, center=center, scale=scale)
    describe = [(w.name, tuple(w.shape), w.trainable, w.dtype) for w in scratch.weights]
    assert describe == [(w.name, tuple(w.shape), w.trainable, w.dtype) for w in builtin.weights]
    assert [name for name, *_ in describe][-3:] == RENORM_WEIGHTS
    for ours, theirs in zip(scratch.weights, builtin.weights, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@needs_builtin_renorm
@pytest.mark.parametrize(("shape", "axis"), LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("clipping", CLIPPINGS, ids=CLIPPING_IDS)
@pytest.mark.parametrize("direction", ["builtin->scratch", "scratch->builtin"])
def test_steps_match_builtin(shape, axis, clipping, direction):
    """Outputs, gradients and all seven weights, step after step, then inference."""
    kwargs = {"momentum": 0.9, "renorm_momentum": 0.7, "renorm_clipping": clipping}
    builtin, scratch = _pair(shape, axis, **kwargs)
    source, target = (builtin, scratch) if direction == "builtin->scratch" else (scratch, builtin)
    initial = _random_weights(source)
    target.set_weights(source.get_weights())
    dy = tf.constant(_data(shape, seed=5, loc=0.0, spread=1.0))

    def step(layer, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * dy)
        return [y, *tape.gradient(loss, [x, layer.gamma, layer.beta])]

    for i in range(3):
        x = tf.constant(_data(shape, seed=10 + i))
        for ours, theirs in zip(step(scratch, x), step(builtin, x), strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
        for ours, theirs in zip(scratch.weights, builtin.weights, strict=True):
            np.testing.assert_allclose(ours, theirs, **TOL, err_msg=ours.name)
    for name in ["moving_mean", "moving_stddev", "renorm_mean", "renorm_stddev"]:
        assert not np.allclose(getattr(scratch, name), initial[name]), name
    np.testing.assert_allclose(scratch(x, training=False), builtin(x, training=False), **TOL)


def _model(layer_cls, **kwargs):
    return keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Dense(4),
            layer_cls(axis=1, renorm=True, momentum=0.8, **kwargs),
            keras.layers.ReLU(),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )


@needs_builtin_renorm
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_fit_gives_the_same_model(jit_compile):
    kwargs = {"renorm_momentum": 0.6, "renorm_clipping": {"rmax": 1.5, "rmin": 0.5, "dmax": 1}}
    x = _data((64, 5, 3), seed=3)
    y = np.random.default_rng(4).standard_normal((64, 1)).astype("float32")
    models = [
        _model(cls, **kwargs)
        for cls in (keras.layers.BatchNormalization, ScratchBatchNormalization)
    ]
    models[1].set_weights(models[0].get_weights())
    initial = models[0].get_weights()
    for model in models:
        model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit_compile)
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    weights = [m.get_weights() for m in models]
    for i, (ours, theirs) in enumerate(zip(weights[1], weights[0], strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        assert not np.allclose(ours, initial[i]), f"weight {i} did not change"
    np.testing.assert_allclose(models[1](x), models[0](x), atol=1e-4)


@needs_builtin_renorm
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_matches_builtin(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        builtin, scratch = _pair((16, 3), -1)
        _random_weights(builtin)
        scratch.set_weights(builtin.get_weights())
        x = keras.ops.cast(_data((16, 3)), policy.split("_")[1])
        for training in (True, False):
            ours, theirs = scratch(x, training=training), builtin(x, training=training)
            assert keras.backend.standardize_dtype(ours.dtype) == policy.split("_")[1]
            np.testing.assert_allclose(
                keras.ops.cast(ours, "float32"), keras.ops.cast(theirs, "float32"), atol=1e-2
            )
        for ours, theirs in zip(scratch.weights, builtin.weights, strict=True):
            assert ours.dtype == "float32"
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=ours.name)
    finally:
        keras.mixed_precision.set_global_policy(previous)


@needs_builtin_renorm
def test_config_loads_both_ways():
    kwargs = {
        "renorm": True,
        "renorm_clipping": {"rmax": 3.0, "rmin": 0.3, "dmax": 5.0},
        "renorm_momentum": 0.95,
    }
    builtin_config = keras.layers.BatchNormalization(**kwargs).get_config()
    scratch_config = ScratchBatchNormalization(**kwargs).get_config()
    assert set(scratch_config) == set(builtin_config)
    assert ScratchBatchNormalization.from_config(builtin_config).get_config() == builtin_config
    assert keras.layers.BatchNormalization.from_config(scratch_config).get_config() == (
        scratch_config
    )
    for key in kwargs:
        assert scratch_config[key] == builtin_config[key]
