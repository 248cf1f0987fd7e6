"""Benchmark the companion's Batch Normalization against the built-in one, side by side.

Run from the repository root::

    python benchmarks/bench_bn.py            # about two minutes on 2 CPU cores
    python benchmarks/bench_bn.py --quick    # fewer repeats, for a smoke test

Prints a table of times (median over repeats, warm-up excluded) and ratios:

- one training step (forward, backward, SGD update; a ``tf.function``) of a small MLP and a
  small CNN with ``ScratchBatchNormalization`` vs ``keras.layers.BatchNormalization``,
  ``jit_compile`` off and on; the goal is a ratio scratch/built-in of at most 1.15;
- NumPy forward + backward in closed form vs the step-by-step graph version, and vs the
  built-in Keras layer's forward + backward (``tf.GradientTape``) on the same array.

The two sides of each row are timed alternately, repeat after repeat, so that a change in
the machine's load hits both; the ratio is the median of the per-repeat ratios. Inputs,
weights and step counts are fixed, so every run measures the same work.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from companion.keras_bn import ScratchBatchNormalization  # noqa: E402
from companion.numpy_bn import (  # noqa: E402
    batch_norm_backward,
    batch_norm_backward_graph,
    batch_norm_forward,
)

GOAL = 1.15


def time_pair(a: Callable[[], object], b: Callable[[], object], repeats: int, warmup: int = 2):
    """Median seconds of `a` and of `b`, and the median of their per-repeat ratio a/b."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for r in range(repeats):
        # Alternate which side goes first, so neither always runs on a warmer cache.
        for fn, times in (
            ((a, times_a), (b, times_b)) if r % 2 == 0 else ((b, times_b), (a, times_a))
        ):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ratios = [ta / tb for ta, tb in zip(times_a, times_b, strict=True)]
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def mlp(bn: type[keras.layers.Layer]) -> keras.Model:
    inputs = keras.Input((64,))
    h = inputs
    for units in (256, 256):
        h = keras.layers.Dense(units, use_bias=False)(h)
        h = keras.layers.Activation("relu")(bn()(h))
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def cnn(bn: type[keras.layers.Layer]) -> keras.Model:
    inputs = keras.Input((16, 16, 8))
    h = inputs
    for filters in (16, 32):
        h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = keras.layers.Activation("relu")(bn()(h))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def train_steps(model: keras.Model, x, y, jit_compile: bool, steps: int) -> Callable[[], float]:
    """A function that runs `steps` training steps and returns the last loss."""
    optimizer = keras.optimizers.SGD(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    def run() -> float:
        for _ in range(steps):
            loss = step(x, y)
        return float(loss)

    return run


def bench_train_steps(repeats: int) -> list[tuple[str, float, float, float]]:
    rows = []
    rng = np.random.default_rng(0)
    cases = [
        ("MLP 64-256-256-10, batch 256", mlp, (256, 64), 20),
        ("CNN 16x16x8, 2 conv, batch 64", cnn, (64, 16, 16, 8), 4),
    ]
    for name, make, shape, steps in cases:
        x = tf.constant(rng.standard_normal(shape).astype("float32"))
        y = tf.constant(rng.integers(0, 10, shape[0]))
        for jit_compile in (False, True):
            keras.utils.set_random_seed(0)
            builtin = make(keras.layers.BatchNormalization)
            scratch = make(ScratchBatchNormalization)
            scratch.set_weights(builtin.get_weights())
            t_s, t_b, ratio = time_pair(
                train_steps(scratch, x, y, jit_compile, steps),
                train_steps(builtin, x, y, jit_compile, steps),
                repeats,
            )
            label = f"train step, {name}, jit_compile={jit_compile}"
            rows.append((label, t_s / steps, t_b / steps, ratio))
    return rows


def bench_numpy(repeats: int) -> list[tuple[str, float, float, float]]:
    rng = np.random.default_rng(1)
    rows = []
    for shape, axis in (((256, 256), -1), ((32, 32, 16, 16), 1)):
        x = rng.standard_normal(shape).astype("float32")
        dy = rng.standard_normal(shape).astype("float32")
        rows += _numpy_rows(x, dy, axis, repeats)
    return rows


def _numpy_rows(x: np.ndarray, dy: np.ndarray, axis: int, repeats: int):
    gamma, beta = np.ones(x.shape[axis], "float32"), np.zeros(x.shape[axis], "float32")
    _, cache = batch_norm_forward(x, gamma, beta, axis=axis)

    def numpy_pass(backward):
        _, cache = batch_norm_forward(x, gamma, beta, axis=axis)
        return backward(dy, cache)

    layer = keras.layers.BatchNormalization(axis=axis)
    layer.build(x.shape)
    x_tf, dy_tf = tf.constant(x), tf.constant(dy)

    def keras_pass():
        with tf.GradientTape() as tape:
            tape.watch(x_tf)
            loss = tf.reduce_sum(layer(x_tf, training=True) * dy_tf)
        return tape.gradient(loss, [x_tf, *layer.trainable_weights])

    compiled_pass = tf.function(keras_pass)

    def closed():
        return numpy_pass(batch_norm_backward)

    cases = [
        ("fwd+bwd, graph / closed form", lambda: numpy_pass(batch_norm_backward_graph), closed),
        (
            "bwd only, graph / closed form",
            lambda: batch_norm_backward_graph(dy, cache),
            lambda: batch_norm_backward(dy, cache),
        ),
        ("fwd+bwd, Keras eager tape / NumPy closed", lambda: _numpy(keras_pass()), closed),
        ("fwd+bwd, Keras tf.function / NumPy closed", lambda: _numpy(compiled_pass()), closed),
    ]
    rows = []
    for what, a, b in cases:
        t_a, t_b, ratio = time_pair(a, b, repeats)
        rows.append((f"NumPy BN {x.shape} axis={axis}: {what}", t_a, t_b, ratio))
    return rows


def _numpy(tensors) -> list[np.ndarray]:
    return [t.numpy() for t in tensors]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15

    print(f"platform   {platform.platform()} ({platform.processor() or platform.machine()})")
    print(f"cpu count  {os.cpu_count()}  (load average {os.getloadavg()[0]:.2f} at start)")
    print(
        f"versions   python {platform.python_version()}, tensorflow {tf.__version__}, "
        f"keras {keras.__version__}, numpy {np.__version__}"
    )
    print(f"repeats    {repeats} (median; warm-up excluded)\n")

    rows = bench_train_steps(repeats) + bench_numpy(repeats)
    width = max(len(row[0]) for row in rows)
    print(f"{'measurement':<{width}}  {'A ms':>8}  {'B ms':>8}  {'A/B':>6}")
    print("-" * (width + 30))
    for label, t_a, t_b, ratio in rows:
        flag = "  over goal" if label.startswith("train") and ratio > GOAL else ""
        print(f"{label:<{width}}  {t_a * 1e3:8.3f}  {t_b * 1e3:8.3f}  {ratio:6.2f}{flag}")
    print(f"\ntrain step rows: A = ScratchBatchNormalization, B = built-in; goal A/B <= {GOAL}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
