"""Companion package of the Batch Normalization course.

The public API is listed explicitly in ``__all__``; chapters import from here.
"""

from companion.conventions import (
    FRAMEWORK_DEFAULTS,
    TF1_MIGRATION,
    biased_variance,
    conventions_table,
    effective_window,
    keras_momentum_from_tf1_decay,
    keras_momentum_from_torch,
    migration_table,
    moving_average_update,
    tf1_decay_from_keras,
    torch_momentum_from_keras,
    unbiased_variance,
)
from companion.data import (
    Split,
    load_classification,
    load_digits_split,
    load_mnist,
    load_wine_split,
    wine_frame,
)
from companion.gradcheck import numerical_gradient, numerical_gradient_array, relative_error
from companion.gradient_descent import (
    Descent,
    condition_number,
    largest_stable_learning_rate,
    loss_grid,
    run_gradient_descent,
    steps_to_reach,
)
from companion.keras_bn import ScratchBatchNormalization
from companion.notebook import glue
from companion.numpy_bn import (
    BatchNorm,
    BatchNormCache,
    batch_moments,
    batch_norm_backward,
    batch_norm_backward_graph,
    batch_norm_forward,
    batch_norm_inference,
    naive_variance,
)
from companion.numpy_mlp import BNClassifier, TrainingLog
from companion.plots import COLORS, label_axes, new_axes, plot_mean_band
from companion.preprocessing import (
    MinMaxScaler,
    NotFittedError,
    ScalingStats,
    StandardScaler,
    apply_scaling,
    fit_minmax,
    fit_standard,
    invert_scaling,
)
from companion.seeding import seed_everything
from companion.statistics import (
    BatchNoise,
    batch_statistics_noise,
    ema_window,
    exponential_moving_average,
    population_statistics,
    steps_to_forget,
    unbiased_variance_factor,
)

__version__ = "0.1.0"

__all__ = [
    "FRAMEWORK_DEFAULTS",
    "TF1_MIGRATION",
    "biased_variance",
    "conventions_table",
    "effective_window",
    "keras_momentum_from_tf1_decay",
    "keras_momentum_from_torch",
    "migration_table",
    "moving_average_update",
    "tf1_decay_from_keras",
    "torch_momentum_from_keras",
    "unbiased_variance",
    "Descent",
    "MinMaxScaler",
    "NotFittedError",
    "ScalingStats",
    "StandardScaler",
    "apply_scaling",
    "condition_number",
    "fit_minmax",
    "fit_standard",
    "invert_scaling",
    "largest_stable_learning_rate",
    "loss_grid",
    "run_gradient_descent",
    "steps_to_reach",
    "COLORS",
    "BNClassifier",
    "BatchNoise",
    "BatchNorm",
    "TrainingLog",
    "batch_statistics_noise",
    "ema_window",
    "exponential_moving_average",
    "population_statistics",
    "steps_to_forget",
    "unbiased_variance_factor",
    "BatchNormCache",
    "batch_moments",
    "batch_norm_backward",
    "batch_norm_backward_graph",
    "batch_norm_forward",
    "batch_norm_inference",
    "naive_variance",
    "numerical_gradient",
    "numerical_gradient_array",
    "relative_error",
    "ScratchBatchNormalization",
    "Split",
    "glue",
    "label_axes",
    "load_classification",
    "load_digits_split",
    "load_mnist",
    "load_wine_split",
    "new_axes",
    "plot_mean_band",
    "seed_everything",
    "wine_frame",
]
