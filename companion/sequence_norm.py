"""Normalization inside a recurrent network: a cell, a classifier and the digits as sequences.

:class:`NormalizedRNNCell` computes ``h_t = tanh(norm(x_t W + h_{t-1} U))``, the recurrence
Ba et al. (2016) normalize with layer normalization. With batch normalization in that place
the cell shares one set of moving statistics across all time steps, the simplest (and, as
Cooijmans et al., 2017, point out, the wrong) way to put BN into a recurrence.
"""

from __future__ import annotations

import keras
import numpy as np

from companion.data import Split, load_digits_split
from companion.small_batch import norm_layer

#: The normalizations :class:`NormalizedRNNCell` accepts.
RNN_NORMS = ("none", "batch", "layer")


class NormalizedRNNCell(keras.layers.Layer):
    """A simple RNN cell with a normalization of its summed inputs.

    ``h_t = tanh(norm(x_t W + h_{t-1} U))``: no bias, the normalization's ``beta`` plays
    that role (with ``"none"`` a bias is added instead).

    Args:
        units: Size of the hidden state.
        norm: ``"none"``, ``"batch"`` (one Keras ``BatchNormalization`` shared by every
            time step) or ``"layer"`` (``LayerNormalization``, per example and step).
        momentum: Momentum of the BN variant's moving statistics.

    Call arguments:
        inputs: ``(N, D)``, the input at one time step.
        states: ``[h]`` with ``h`` of shape ``(N, units)``.
        training: Passed to the normalization.
    """

    def __init__(self, units: int, norm: str = "layer", *, momentum: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        if norm not in RNN_NORMS:
            raise ValueError(f"norm must be one of {RNN_NORMS}, got {norm!r}")
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.units = units
        self.norm = norm
        self.momentum = momentum
        self.state_size = units
        self.output_size = units
        self.normalization = norm_layer(norm, momentum=momentum, name="norm")

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = None
        if self.norm == "none":
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.normalization.build((input_shape[0], self.units))

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, list | tuple) else states
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        h = keras.ops.tanh(self.normalization(z, training=training))
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "norm": self.norm,
            "momentum": self.momentum,
        }


def build_rnn_classifier(
    norm: str, *, seed: int, units: int = 32, steps: int = 8, features: int = 8
) -> keras.Sequential:
    """An RNN classifier: ``(N, steps, features)`` -> 10 logits from the last hidden state.

    Args:
        norm: See :class:`NormalizedRNNCell`.
        seed: Seed of the weight initialization.
        units: Hidden units.
        steps: Time steps of the input; ``None`` accepts any length.
        features: Inputs per time step.
    """
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((steps, features)),
            keras.layers.RNN(NormalizedRNNCell(units, norm), name="rnn"),
            keras.layers.Dense(10),
        ],
        name=f"rnn_{norm}",
    )


def digits_as_sequences(*, steps: int = 8, seed: int = 0) -> Split:
    """The 8x8 digits read in reading order as ``steps`` time steps of ``64 // steps`` pixels.

    ``steps=8`` reads one row per step; ``steps=64`` one pixel per step.

    Args:
        steps: Time steps, a divisor of 64.
        seed: Seed of the stratified train/test shuffle (as :func:`load_digits_split`).

    Returns:
        A :class:`~companion.data.Split` with ``x_*`` of shape ``(N, steps, 64 // steps)``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 or 64 % steps:
        raise ValueError(f"steps must be a divisor of 64, got steps={steps!r}")
    split = load_digits_split(seed=seed)
    shape = (-1, steps, 64 // steps)
    return Split(split.x_train.reshape(shape), split.x_test.reshape(shape), *split[2:])


def step_statistics(model: keras.Sequential, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the cell's summed input ``x_t W + h_{t-1} U`` per step.

    Runs the recurrence of ``model``'s cell by hand in inference mode and pools each step's
    pre-normalization values over examples and units.

    Args:
        model: From :func:`build_rnn_classifier`.
        x: ``(N, T, D)`` inputs.

    Returns:
        ``(mean, std)``, each of shape ``(T,)``.
    """
    cell = model.get_layer("rnn").cell
    kernel, recurrent = (
        keras.ops.convert_to_numpy(w) for w in (cell.kernel, cell.recurrent_kernel)
    )
    h = np.zeros((len(x), cell.units), dtype=np.float32)
    means, stds = [], []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent
        means.append(z.mean())
        stds.append(z.std())
        h = keras.ops.convert_to_numpy(cell.call(x[:, t], [h], training=False)[0])
    return np.asarray(means), np.asarray(stds)
