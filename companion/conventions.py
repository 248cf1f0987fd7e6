"""Momentum, decay, epsilon and variance conventions of Keras, PyTorch and TF1, in one place.

The course writes every moving average in the Keras form::

    moving = momentum * moving + (1 - momentum) * batch        # Keras, TF1 (decay)

PyTorch's ``torch.nn.BatchNorm*`` names the *other* weight ``momentum``::

    running = (1 - momentum) * running + momentum * batch      # PyTorch

so Keras's 0.99 is PyTorch's 0.01, and PyTorch's default 0.1 is Keras's 0.9. TF1's
``decay`` is Keras's ``momentum`` under another name. This module holds the conversions,
the frameworks' defaults (:data:`FRAMEWORK_DEFAULTS`), and the tables a chapter prints.
"""

from __future__ import annotations

import inspect
import math
from numbers import Real
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

Convention = Literal["keras", "torch"]


def _check_momentum(value: float, name: str = "momentum") -> float:
    """Return ``value`` as a float after checking it is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def keras_momentum_from_torch(torch_momentum: float) -> float:
    """Keras's ``momentum`` (weight of the old value) for a PyTorch ``momentum`` (new value).

    >>> keras_momentum_from_torch(0.1)
    0.9
    """
    return 1.0 - _check_momentum(torch_momentum, "torch_momentum")


def torch_momentum_from_keras(keras_momentum: float) -> float:
    """PyTorch's ``momentum`` (weight of the new value) for a Keras ``momentum``.

    >>> round(torch_momentum_from_keras(0.99), 12)
    0.01
    """
    return 1.0 - _check_momentum(keras_momentum, "keras_momentum")


def tf1_decay_from_keras(keras_momentum: float) -> float:
    """TF1's ``decay`` for a Keras ``momentum``: the same number (both weight the old value)."""
    return _check_momentum(keras_momentum, "keras_momentum")


def keras_momentum_from_tf1_decay(decay: float) -> float:
    """Keras's ``momentum`` for a TF1 ``decay``: the same number (both weight the old value)."""
    return _check_momentum(decay, "decay")


def effective_window(keras_momentum: float) -> float:
    """About how many recent batches a moving average remembers: ``1 / (1 - momentum)``.

    Returns ``inf`` for ``momentum == 1`` (the average never moves).
    """
    m = _check_momentum(keras_momentum, "keras_momentum")
    return math.inf if m == 1.0 else 1.0 / (1.0 - m)


def moving_average_update(
    moving: np.ndarray | float,
    batch: np.ndarray | float,
    momentum: float,
    *,
    convention: Convention = "keras",
) -> np.ndarray:
    """One update of a moving statistic, in either framework's convention.

    Args:
        moving: The current moving value(s).
        batch: The current batch's statistic(s), broadcastable against ``moving``.
        momentum: The framework's ``momentum`` argument.
        convention: ``"keras"`` (``momentum`` weights the old value) or ``"torch"``
            (``momentum`` weights the new value).

    Returns:
        The new moving value(s); the arguments are not modified.
    """
    m = _check_momentum(momentum)
    if convention == "keras":
        old_weight = m
    elif convention == "torch":
        old_weight = 1.0 - m
    else:
        raise ValueError(f"convention must be 'keras' or 'torch', got {convention!r}")
    return old_weight * np.asarray(moving, dtype=float) + (1.0 - old_weight) * np.asarray(
        batch, dtype=float
    )


def moving_average_trace(
    values: np.ndarray,
    momentum: float,
    *,
    convention: Convention = "keras",
    initial: float = 0.0,
) -> np.ndarray:
    """The moving average after each of a sequence of batch statistics.

    Args:
        values: Shape ``(T,)`` or ``(T, C)``: one batch statistic per step.
        momentum: The framework's ``momentum``.
        convention: ``"keras"`` or ``"torch"`` (see :func:`moving_average_update`).
        initial: The moving value before the first step (Keras and PyTorch start the
            moving mean at 0 and the moving variance at 1).

    Returns:
        Array of the shape of ``values``: entry ``t`` is the moving value after step ``t``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim not in (1, 2) or len(values) == 0:
        raise ValueError(f"values must have shape (T,) or (T, C) with T >= 1, got {values.shape}")
    out = np.empty_like(values)
    moving = np.full(values.shape[1:], float(initial))
    for t, value in enumerate(values):
        moving = moving_average_update(moving, value, momentum, convention=convention)
        out[t] = moving
    return out


def _check_count(m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, int | np.integer):
        raise TypeError(f"m (the number of values per statistic) must be an int, got {m!r}")
    if m < 2:
        raise ValueError(f"m must be at least 2 to convert between variances, got {m}")
    return int(m)


def _check_variance(variance: np.ndarray | float, name: str) -> np.ndarray:
    arr = np.asarray(variance, dtype=float)
    if np.any(~(arr >= 0)):  # negative or NaN
        raise ValueError(f"{name} must be non-negative, got {variance!r}")
    return arr


def unbiased_variance(biased: np.ndarray | float, m: int) -> np.ndarray | float:
    """The unbiased variance ``biased * m / (m - 1)`` from the biased one (divide by ``m``).

    Args:
        biased: Variance(s) computed with ``1/m``, as Keras and ``tf.nn.moments`` do.
        m: The number of values each variance was computed from (for a conv layer,
            batch size x height x width). Must be at least 2.
    """
    m = _check_count(m)
    result = _check_variance(biased, "biased") * (m / (m - 1))
    return float(result) if result.ndim == 0 else result


def biased_variance(unbiased: np.ndarray | float, m: int) -> np.ndarray | float:
    """The biased variance ``unbiased * (m - 1) / m``: the inverse of :func:`unbiased_variance`."""
    m = _check_count(m)
    result = _check_variance(unbiased, "unbiased") * ((m - 1) / m)
    return float(result) if result.ndim == 0 else result


class FrameworkConvention(NamedTuple):
    """How one framework's BN layer names and weights its moving average."""

    framework: str
    api: str
    argument: str  # the constructor argument that sets the moving average's speed
    default: float  # its default value
    weights: Literal["old", "new"]  # which value the argument multiplies
    epsilon: float  # default epsilon
    stored_variance: str  # which variance enters the moving variance
    learns_gamma: bool  # whether the scale gamma exists by default

    @property
    def keras_momentum(self) -> float:
        """The default expressed as a Keras ``momentum``."""
        if self.weights == "old":
            return self.default
        return keras_momentum_from_torch(self.default)


#: Defaults of the BN layers a reader meets in code. Keras's row is checked against the
#: installed layer by the tests; the others come from each library's documentation and
#: source (``torch.nn.BatchNorm2d``, TF 1.15's ``tf.contrib.layers.batch_norm`` and
#: ``tf.compat.v1.layers.batch_normalization``). The fused TF kernel returns the unbiased
#: batch variance, ``tf.nn.moments`` the biased one, so TF1 stored one or the other
#: depending on which path ran.
FRAMEWORK_DEFAULTS: tuple[FrameworkConvention, ...] = (
    FrameworkConvention(
        "Keras 3",
        "keras.layers.BatchNormalization",
        "momentum",
        0.99,
        "old",
        1e-3,
        "biased",
        True,
    ),
    FrameworkConvention(
        "PyTorch",
        "torch.nn.BatchNorm1d/2d/3d",
        "momentum",
        0.1,
        "new",
        1e-5,
        "unbiased",
        True,
    ),
    FrameworkConvention(
        "TF1 contrib",
        "tf.contrib.layers.batch_norm",
        "decay",
        0.999,
        "old",
        1e-3,
        "unbiased (fused kernel) / biased (tf.nn.moments)",
        False,
    ),
    FrameworkConvention(
        "TF1 layers",
        "tf.compat.v1.layers.batch_normalization",
        "momentum",
        0.99,
        "old",
        1e-3,
        "unbiased (fused kernel) / biased (tf.nn.moments)",
        True,
    ),
)


def conventions_table(conventions: tuple[FrameworkConvention, ...] = FRAMEWORK_DEFAULTS):
    """:data:`FRAMEWORK_DEFAULTS` as a DataFrame, with the Keras-equivalent momentum.

    The column ``keras momentum`` converts each default into the course's convention
    with this module's functions; ``window`` is :func:`effective_window` of it.
    """
    rows = [
        {
            "framework": c.framework,
            "API": c.api,
            "argument": c.argument,
            "default": c.default,
            "weights": f"{c.weights} value",
            "keras momentum": round(c.keras_momentum, 12),
            "window (batches)": round(effective_window(c.keras_momentum)),
            "epsilon": c.epsilon,
            "stored variance": c.stored_variance,
            "gamma by default": c.learns_gamma,
        }
        for c in conventions
    ]
    return pd.DataFrame(rows).set_index("framework")


class ArgumentMigration(NamedTuple):
    """Where one argument of TF1's ``tf.contrib.layers.batch_norm`` went in TF2/Keras 3."""

    tf1_argument: str
    tf1_default: str
    keras_argument: str | None  # a constructor argument of keras.layers.BatchNormalization
    note: str
    since: str | None = None  # the first Keras release whose layer takes keras_argument


#: ``tf.contrib.layers.batch_norm`` (TF 1.x) argument by argument. ``contrib`` was removed
#: in TF 2.0; its BN became ``keras.layers.BatchNormalization``.
TF1_MIGRATION: tuple[ArgumentMigration, ...] = (
    ArgumentMigration(
        "decay", "0.999", "momentum", "same meaning and formula: weight of the old value"
    ),
    ArgumentMigration("center", "True", "center", "adds beta"),
    ArgumentMigration("scale", "False", "scale", "multiplies by gamma; note the default flipped"),
    ArgumentMigration("epsilon", "0.001", "epsilon", "same meaning"),
    ArgumentMigration(
        "is_training",
        "True",
        None,
        "the call argument training: fit() passes True, predict() False",
    ),
    ArgumentMigration(
        "updates_collections",
        "UPDATE_OPS",
        None,
        "gone: the layer assigns its moving statistics when called in training mode",
    ),
    ArgumentMigration(
        "renorm", "False", "renorm", "Batch Renormalization, same meaning", since="3.14"
    ),
    ArgumentMigration("renorm_decay", "0.99", "renorm_momentum", "same meaning", since="3.14"),
    ArgumentMigration(
        "param_initializers", "None", "gamma_initializer", "one argument per weight (four of them)"
    ),
    ArgumentMigration("data_format", "'NHWC'", "axis", "the feature axis: -1 for NHWC, 1 for NCHW"),
    ArgumentMigration("fused", "None", None, "gone: the backend picks the kernel"),
    ArgumentMigration("activation_fn", "None", None, "gone: add an Activation layer after BN"),
)


def migration_table(migrations: tuple[ArgumentMigration, ...] = TF1_MIGRATION) -> pd.DataFrame:
    """:data:`TF1_MIGRATION` as a DataFrame, with the installed Keras layer's defaults.

    The column ``Keras default`` is read from ``keras.layers.BatchNormalization``'s
    signature at call time, so the table cannot drift from the installed version. An
    argument newer than the installed Keras (``renorm`` arrived in Keras 3.14) is kept, with
    ``"needs Keras >= 3.14"`` in place of its default.

    Raises:
        ValueError: If the installed layer lacks an argument that it should have by its
            ``since`` version (a renamed or removed argument: the table is stale).
    """
    import keras  # lazily: the rest of this module needs no TensorFlow

    from companion.compat import keras_at_least

    params = inspect.signature(keras.layers.BatchNormalization.__init__).parameters
    rows = []
    for mig in migrations:
        if mig.keras_argument is None:
            keras_default = "-"
        elif mig.keras_argument in params:
            keras_default = repr(params[mig.keras_argument].default)
        elif mig.since is not None and not keras_at_least(mig.since):
            keras_default = f"needs Keras >= {mig.since}"
        else:
            raise ValueError(
                f"keras.layers.BatchNormalization (Keras {keras.__version__}) has no argument "
                f"{mig.keras_argument!r}"
            )
        rows.append(
            {
                "TF1 argument": mig.tf1_argument,
                "TF1 default": mig.tf1_default,
                "Keras 3 argument": mig.keras_argument or "-",
                "Keras default": keras_default,
                "note": mig.note,
            }
        )
    return pd.DataFrame(rows).set_index("TF1 argument")
