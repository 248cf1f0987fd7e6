"""ScratchBatchNormalization(synchronized=True) against the built-in layer under tf.distribute.

Two replicas on one machine need the CPU split into two logical devices, which TensorFlow
allows only before it initializes its devices; the pytest process did that long ago. So each
scenario runs in fresh Python processes started here (this file, run as a script):

- ``mirrored``: one process, ``MirroredStrategy`` on two logical CPUs;
- ``worker``: two processes on 127.0.0.1, one ``MultiWorkerMirroredStrategy`` worker each
  (``TF_CONFIG``), the way training on several machines runs.

The processes feed the same batches to the built-in and the scratch layer and save outputs,
gradients and every replica's copy of the weights; the tests here compare them with each
other and with the global-batch statistics computed in NumPy. Replica 0 and replica 1 get
data from different distributions, so local and global statistics differ by a lot.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion.compat import builtin_bn_accepts, keras_version

ROOT = Path(__file__).resolve().parent.parent
EPSILON = 1e-3
STEPS = 3
# Scenario name -> (layer arguments, per-replica input shape). Replica r's examples follow
# N(LOCS[r], SCALES[r]).
LOCS, SCALES = (-1.0, 2.0), (1.0, 0.5)
CASES = {
    "local": ({"synchronized": False, "momentum": 0.8}, (4, 3)),
    "sync": ({"synchronized": True, "momentum": 0.8}, (4, 3)),
    "sync_nchw": ({"synchronized": True, "momentum": 0.8, "axis": 1}, (4, 3, 2, 2)),
    "sync_renorm": (
        {
            "synchronized": True,
            "momentum": 0.9,
            "renorm": True,
            "renorm_momentum": 0.8,
            "renorm_clipping": {"rmax": 1.5, "rmin": 0.7, "dmax": 0.5},
        },
        (4, 3),
    ),
}
WORKER_CASES = ("sync", "sync_renorm")
LAYERS = ("builtin", "scratch")


# ----------------------------------------------------------------------------------------
# The tests: run the processes, compare what they saved.

MIRRORED_TIMEOUT_S = 300  # about 15 s on an idle 2-core machine
WORKERS_TIMEOUT_S = 300
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _skip_unless_builtin_accepts(kwargs):
    missing = [arg for arg in kwargs if not builtin_bn_accepts(arg)]
    if missing:
        pytest.skip(f"keras {keras_version()}: the built-in BatchNormalization lacks {missing}")


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **extra}


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirrored")
    out, log = folder / "results.npz", folder / "log.txt"
    with log.open("w") as stream:
        # subprocess.run kills the child when the timeout expires.
        done = subprocess.run(
            [sys.executable, __file__, "mirrored", str(out)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            timeout=MIRRORED_TIMEOUT_S,
            check=False,
        )
    assert done.returncode == 0, f"the MirroredStrategy process failed:\n{_tail(log)}"
    return dict(np.load(out))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1; their saved results."""
    _skip_unless_builtin_accepts({"synchronized": True})
    folder = tmp_path_factory.mktemp("workers")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes, logs, outs = [], [], []
    try:
        for index in range(2):
            config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            outs.append(folder / f"worker{index}.npz")
            logs.append(folder / f"worker{index}.txt")
            with logs[-1].open("w") as stream:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "worker", str(outs[-1])],
                        stdout=stream,
                        stderr=subprocess.STDOUT,
                        env=_child_env(TF_CONFIG=json.dumps(config)),
                    )
                )
        deadline = time.monotonic() + WORKERS_TIMEOUT_S
        for index, process in enumerate(processes):
            try:
                code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {index} ran past {WORKERS_TIMEOUT_S} s:\n{_tail(logs[index])}")
            assert code == 0, f"worker {index} failed:\n{_tail(logs[index])}"
    finally:
        for process in processes:  # never leave a worker behind, whatever happened
            if process.poll() is None:
                process.kill()
                process.wait()
    return [dict(np.load(out)) for out in outs]


def _normalize(x, axis, gamma, beta, mean=None, var=None):
    """NumPy BN of `x` with its own statistics (or the given ones), in float64."""
    x = x.astype("float64")
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean = x.mean(axis=axes) if mean is None else mean
    var = x.var(axis=axes) if var is None else var
    inv = (gamma / np.sqrt(var + EPSILON)).reshape(shape)
    return (x - mean.reshape(shape)) * inv + beta.reshape(shape)


def _assert_twins(results, name, steps=STEPS):
    """Scratch and built-in gave the same outputs, gradients and weights (every copy)."""
    prefix = f"{name}/scratch/"
    keys = [k[len(prefix) :] for k in results if k.startswith(prefix)]
    per_step = {"y", "dx", "dgamma", "dbeta"}
    assert {k.split("/")[0] for k in keys} >= per_step | {"gamma", "moving_mean"}
    assert sum(k.split("/")[0] in per_step for k in keys) == 4 * steps
    for key in keys:
        np.testing.assert_allclose(
            results[prefix + key], results[f"{name}/builtin/{key}"], **TOL, err_msg=key
        )


@pytest.mark.parametrize("name", list(CASES))
def test_matches_builtin_under_mirrored_strategy(mirrored, name):
    _skip_unless_builtin_accepts(CASES[name][0])
    _assert_twins(mirrored, name)


@pytest.mark.parametrize("name", ["local", "sync", "sync_nchw"])
def test_statistics_are_global_only_when_synchronized(mirrored, name):
    kwargs, shape = CASES[name]
    axis, momentum = kwargs.get("axis", -1), kwargs["momentum"]
    init, steps = case_data(name)
    half = shape[0]
    x = steps[0][0]
    both = _normalize(x, axis, init["gamma"], init["beta"])
    halves = (x[:half], x[half:])
    each = np.concatenate([_normalize(h, axis, init["gamma"], init["beta"]) for h in halves])
    y = mirrored[f"{name}/scratch/y/0"]
    expected, other = (both, each) if kwargs["synchronized"] else (each, both)
    np.testing.assert_allclose(y, expected, **TOL)
    assert np.abs(y - other).max() > 0.5

    # Moving mean: every replica's copy follows the global batch, or each its own half.
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    copies = mirrored[f"{name}/scratch/moving_mean"]
    for r in range(2):
        expected = init["moving_mean"].astype("float64")
        for x, _ in steps:
            part = x if kwargs["synchronized"] else x[r * half : (r + 1) * half]
            expected = momentum * expected + (1 - momentum) * part.mean(axis=axes)
        np.testing.assert_allclose(copies[r], expected, **TOL)
    assert np.allclose(copies[0], copies[1]) == kwargs["synchronized"]


def test_synchronized_mask_uses_the_global_masked_batch(mirrored):
    x, mask = mirrored["masked/x"].astype("float64"), mirrored["masked/mask"]
    kept = x[mask]  # (examples kept, features) from both replicas
    for r in range(2):
        np.testing.assert_allclose(mirrored["masked/moving_mean"][r], kept.mean(axis=0), **TOL)
        np.testing.assert_allclose(mirrored["masked/moving_variance"][r], kept.var(axis=0), **TOL)
    ones, zeros = np.ones(2), np.zeros(2)
    expected = _normalize(x, -1, ones, zeros, kept.mean(axis=0), kept.var(axis=0))
    np.testing.assert_allclose(mirrored["masked/y"], expected, rtol=1e-4, atol=1e-4)


def test_synchronized_variance_keeps_two_pass_precision(mirrored):
    # Keras's synchronized E[x^2] - E[x]^2 on 1000 +- 0.1 in float32 has no correct digit
    # left; the two-pass variance stays within 0.1 %.
    exact = mirrored["precise/x"].astype("float64").var(axis=0)
    for copy in mirrored["precise/moving_variance"]:
        np.testing.assert_allclose(copy, exact, rtol=1e-3)


def test_fit_under_mirrored_strategy_gives_the_same_model(mirrored):
    _skip_unless_builtin_accepts({"synchronized": True, "renorm": True})
    count = sum(k.startswith("fit/initial/") for k in mirrored)
    assert count == 11  # Dense (2), BN with renorm (7), Dense (2)
    moved = []
    for i in range(count):
        ours, theirs = mirrored[f"fit/scratch/{i}"], mirrored[f"fit/builtin/{i}"]
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        moved.append(not np.allclose(ours, mirrored[f"fit/initial/{i}"], atol=1e-6))
    # Every weight changed, trainable or moving statistic, except the bias of the Dense
    # layer before BN: BN subtracts the mean, so that bias gets no gradient.
    assert moved == [True, False] + [True] * (count - 2)


@pytest.mark.parametrize("name", WORKER_CASES)
def test_matches_builtin_under_multi_worker_strategy(workers, name):
    _skip_unless_builtin_accepts(CASES[name][0])
    for results in workers:
        assert int(results["replicas"]) == 2
        _assert_twins(results, name)
    # The workers agree on every weight...
    for key in workers[0]:
        if key.startswith(f"{name}/scratch/") and "/d" not in key and "/y/" not in key:
            np.testing.assert_allclose(workers[0][key], workers[1][key], **TOL, err_msg=key)


def test_multi_worker_statistics_are_those_of_the_global_batch(workers):
    init, steps = case_data("sync")
    x = steps[0][0]
    y = np.concatenate([w["sync/scratch/y/0"] for w in workers])
    np.testing.assert_allclose(y, _normalize(x, -1, init["gamma"], init["beta"]), **TOL)
    expected = init["moving_mean"].astype("float64")
    for x, _ in steps:
        expected = 0.8 * expected + 0.2 * x.mean(axis=0)
    for w in workers:
        np.testing.assert_allclose(w["sync/scratch/moving_mean"][0], expected, **TOL)


# ----------------------------------------------------------------------------------------
# The side that runs in the subprocesses.


def _builtin_takes(kwargs) -> bool:
    return all(builtin_bn_accepts(arg) for arg in kwargs)


def case_data(name: str, replicas: int = 2):
    """Initial weights and, per step, the global batch and upstream gradient of a case."""
    kwargs, shape = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    axis = kwargs.get("axis", -1)
    features = shape[axis]
    init = {
        "gamma": rng.uniform(0.5, 1.5, features),
        "beta": rng.standard_normal(features),
        "moving_mean": rng.standard_normal(features),
        "moving_variance": rng.uniform(0.5, 2.0, features),
        "moving_stddev": rng.uniform(0.7, 1.4, features),
        "renorm_mean": rng.standard_normal(features),
        "renorm_stddev": rng.uniform(0.7, 1.4, features),
    }
    steps = []
    for _ in range(STEPS):
        x = np.concatenate(
            [LOCS[r] + SCALES[r] * rng.standard_normal(shape) for r in range(replicas)]
        )
        steps.append((x.astype("float32"), rng.standard_normal(x.shape).astype("float32")))
    return {k: v.astype("float32") for k, v in init.items()}, steps


def _replica_values(strategy, array):
    """Replica r gets the r-th equal slice of `array` along the batch axis."""
    import tensorflow as tf

    def slice_for(context):
        n = array.shape[0] // context.num_replicas_in_sync
        r = context.replica_id_in_sync_group
        return tf.constant(array[r * n : (r + 1) * n])

    return strategy.experimental_distribute_values_from_function(slice_for)


def _local(strategy, values):
    """This process's replicas' results, concatenated along the first axis."""
    return np.concatenate([np.asarray(v) for v in strategy.experimental_local_results(values)])


def _copies(variable):
    """This process's replica copies of a Keras variable, shape (local replicas, C)."""
    value = variable.value
    copies = getattr(value, "values", (value,))
    return np.stack([np.asarray(c) for c in copies])


def run_case(strategy, scratch_cls, name: str) -> dict[str, np.ndarray]:
    """Train-mode steps of both layers on the same batches: outputs, gradients, weights."""
    import keras
    import tensorflow as tf

    kwargs, shape = CASES[name]
    init, steps = case_data(name, strategy.num_replicas_in_sync)
    results = {}
    classes = {"builtin": keras.layers.BatchNormalization, "scratch": scratch_cls}
    if not _builtin_takes(kwargs):
        del classes["builtin"]  # the test skips the comparison
    for layer_name, cls in classes.items():
        with strategy.scope():
            layer = cls(**kwargs)
            layer.build((None, *shape[1:]))
        layer.set_weights([init[w.name] for w in layer.weights])

        @tf.function
        def step(x, dy, layer=layer):
            def replica_step(x, dy):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = layer(x, training=True)
                    loss = tf.reduce_sum(y * dy)
                dx, dgamma, dbeta = tape.gradient(loss, [x, layer.gamma, layer.beta])
                return y, dx, dgamma[None], dbeta[None]

            return strategy.run(replica_step, args=(x, dy))

        for i, (x, dy) in enumerate(steps):
            out = step(_replica_values(strategy, x), _replica_values(strategy, dy))
            for key, value in zip(("y", "dx", "dgamma", "dbeta"), out, strict=True):
                results[f"{name}/{layer_name}/{key}/{i}"] = _local(strategy, value)
        for w in layer.weights:
            results[f"{name}/{layer_name}/{w.name}"] = _copies(w)
    return results


def _train_step(strategy, layer, x, mask=None):
    import tensorflow as tf

    @tf.function
    def step(x, mask):
        def replica_step(x, mask):
            return layer(x, training=True, mask=mask)

        return strategy.run(replica_step, args=(x, mask))

    return step(x, mask)


def run_masked(strategy, scratch_cls) -> dict[str, np.ndarray]:
    """Synchronized statistics of a masked batch (scratch layer only)."""

    rng = np.random.default_rng(7)
    x = np.concatenate([LOCS[r] + rng.standard_normal((3, 5, 2)) for r in (0, 1)])
    mask = rng.random((6, 5)) > 0.3
    with strategy.scope():
        layer = scratch_cls(synchronized=True, momentum=0.0)
        layer.build((None, 5, 2))
    x = x.astype("float32")
    y = _train_step(strategy, layer, _replica_values(strategy, x), _replica_values(strategy, mask))
    return {
        "masked/x": x,
        "masked/mask": mask,
        "masked/y": _local(strategy, y),
        "masked/moving_mean": _copies(layer.moving_mean),
        "masked/moving_variance": _copies(layer.moving_variance),
    }


def run_precise(strategy, scratch_cls) -> dict[str, np.ndarray]:
    """Synchronized variance of float32 data far from zero: 1000 +- 0.1."""

    x = (1000.0 + 0.1 * np.random.default_rng(8).standard_normal((2000, 3))).astype("float32")
    with strategy.scope():
        layer = scratch_cls(synchronized=True, momentum=0.0)
        layer.build((None, 3))
    _train_step(strategy, layer, _replica_values(strategy, x))
    return {"precise/x": x, "precise/moving_variance": _copies(layer.moving_variance)}


def fit_models(strategy, scratch_cls) -> dict[str, np.ndarray]:
    """`Model.fit` under the strategy with each layer, from the same initial weights."""
    import keras

    rng = np.random.default_rng(9)
    # Four global batches of 16; each replica gets 8 of them, replica 1 the second half.
    x = rng.standard_normal((4, 16, 5))
    x[:, 8:] = 2.0 + 0.5 * x[:, 8:]
    x = x.reshape(64, 5).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    results, initial = {}, None
    for layer_name, cls in zip(LAYERS, (keras.layers.BatchNormalization, scratch_cls), strict=True):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            bn = cls(synchronized=True, renorm=True, momentum=0.8, renorm_momentum=0.7)
            model = keras.Sequential(
                [keras.Input((5,)), keras.layers.Dense(4), bn, keras.layers.ReLU()]
                + [keras.layers.Dense(1)]
            )
            model.compile(keras.optimizers.SGD(0.1), "mse")
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        for i, w in enumerate(model.get_weights()):
            results[f"fit/{layer_name}/{i}"] = w
    for i, w in enumerate(initial):
        results[f"fit/initial/{i}"] = w
    return results


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def mirrored_main(out: str) -> None:
    _quiet_tensorflow()
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from companion.keras_bn import ScratchBatchNormalization as scratch_cls

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for name in CASES:
        results.update(run_case(strategy, scratch_cls, name))
    results.update(run_masked(strategy, scratch_cls))
    results.update(run_precise(strategy, scratch_cls))
    if _builtin_takes({"synchronized": True, "renorm": True}):
        results.update(fit_models(strategy, scratch_cls))
    np.savez(out, **results)


def worker_main(out: str) -> None:
    _quiet_tensorflow()
    import tensorflow as tf

    from companion.keras_bn import ScratchBatchNormalization as scratch_cls

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    results = {"replicas": np.array(strategy.num_replicas_in_sync)}
    for name in WORKER_CASES:
        results.update(run_case(strategy, scratch_cls, name))
    np.savez(out, **results)


if __name__ == "__main__":
    {"mirrored": mirrored_main, "worker": worker_main}[sys.argv[1]](sys.argv[2])
