"""Folding a trained Batch Normalization layer into the layer before it.

At inference time BN uses fixed statistics, so it is a per-channel affine map
``y = s * z + t`` with ``s = gamma / sqrt(moving_variance + epsilon)`` and
``t = beta - s * moving_mean``. When ``z = x @ W + b`` comes straight from a
``Dense`` or convolution layer, the two affine maps compose into one:
``y = x @ (W * s) + (s * (b - moving_mean) + beta)``. The folded layer computes the
same outputs with one layer and no BN arithmetic (the trick behind inference
engines and integer quantization, Jacob et al., 2018).
"""

from __future__ import annotations

import keras
import numpy as np

from companion.keras_bn import ScratchBatchNormalization

#: Layers whose kernel has the output channels on its last axis.
FOLDABLE_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
BN_LAYERS = (keras.layers.BatchNormalization, ScratchBatchNormalization)


def _numpy(variable) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float64)


def bn_scale_and_shift(bn: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray]:
    """The inference-mode BN as a per-channel affine map ``y = scale * z + shift``.

    Args:
        bn: A built `keras.layers.BatchNormalization` or `ScratchBatchNormalization`.

    Returns:
        `(scale, shift)`, each a float64 array of shape `(C,)`:
        `scale = gamma / sqrt(moving_variance + epsilon)` and
        `shift = beta - scale * moving_mean` (`gamma = 1` when `scale=False`,
        `beta = 0` when `center=False`).
    """
    mean = _numpy(bn.moving_mean)
    variance = _numpy(bn.moving_variance)
    gamma = _numpy(bn.gamma) if bn.scale else 1.0
    beta = _numpy(bn.beta) if bn.center else 0.0
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - scale * mean


def _check_pair(layer: keras.layers.Layer, bn: keras.layers.Layer) -> None:
    if not isinstance(layer, FOLDABLE_LAYERS):
        names = ", ".join(cls.__name__ for cls in FOLDABLE_LAYERS)
        raise TypeError(f"Can only fold BN into {names}; got {type(layer).__name__}.")
    if not isinstance(bn, BN_LAYERS):
        raise TypeError(f"Expected a BatchNormalization layer, got {type(bn).__name__}.")
    for item in (layer, bn):
        if not item.built:
            raise ValueError(f"Layer {item.name!r} is not built: call it on data first.")
    activation = keras.activations.serialize(layer.activation)
    if activation != "linear":
        raise ValueError(
            f"Layer {layer.name!r} has activation {activation!r}; folding is valid only when "
            "BN directly follows the affine map (activation 'linear')."
        )
    if isinstance(layer, keras.layers.Dense):
        rank = bn.input_spec.ndim if bn.input_spec is not None else None
    else:
        if layer.data_format != "channels_last":
            raise ValueError(
                f"Layer {layer.name!r} must be channels_last, got {layer.data_format!r}."
            )
        rank = layer.rank + 2
    last = bn.axis == -1 or (rank is not None and bn.axis == rank - 1)
    if not last:
        raise ValueError(
            f"BN {bn.name!r} normalizes axis {bn.axis}; folding needs the last (channel) axis."
        )
    channels = layer.kernel.shape[-1]
    if bn.moving_mean.shape[0] != channels:
        raise ValueError(
            f"BN {bn.name!r} has {bn.moving_mean.shape[0]} features but layer "
            f"{layer.name!r} has {channels} output channels."
        )


def fold_batch_norm(layer: keras.layers.Layer, bn: keras.layers.Layer) -> keras.layers.Layer:
    """Fold an inference-mode BN into the `Dense` or convolution layer that feeds it.

    Args:
        layer: A built `Dense`, `Conv1D`, `Conv2D` or `Conv3D` (channels last) with
            activation `'linear'`, with or without a bias.
        bn: A built `keras.layers.BatchNormalization` or `ScratchBatchNormalization`
            applied to `layer`'s output and normalizing its last axis.

    Returns:
        A new layer of the same class with `use_bias=True`, named `<layer.name>_folded`,
        whose output equals `bn(layer(x), training=False)` up to float32 rounding.
        The original layers are left untouched.

    Raises:
        TypeError: If `layer` or `bn` is of an unsupported type.
        ValueError: If a layer is not built, `layer` has a non-linear activation or is
            channels first, or BN normalizes another axis or another number of features.
    """
    _check_pair(layer, bn)
    scale, shift = bn_scale_and_shift(bn)
    kernel = _numpy(layer.kernel)
    bias = _numpy(layer.bias) if layer.use_bias else 0.0
    new_kernel = kernel * scale  # broadcasts over the output-channel (last) axis
    new_bias = scale * bias + shift  # = scale * (bias - mean) + beta

    config = layer.get_config()
    config.update(name=f"{layer.name}_folded", use_bias=True)
    config.pop("lora_rank", None)  # a merged kernel has no low-rank adapter
    folded = type(layer).from_config(config)
    in_features = kernel.shape[-2] * getattr(layer, "groups", 1)
    spatial = (None,) * getattr(layer, "rank", 0)
    folded.build((None, *spatial, in_features))
    dtype = keras.backend.standardize_dtype(folded.kernel.dtype)
    folded.kernel.assign(new_kernel.astype(dtype))
    folded.bias.assign(new_bias.astype(dtype))
    return folded


def _is_affine(layer: keras.layers.Layer) -> bool:
    return (
        isinstance(layer, FOLDABLE_LAYERS)
        and keras.activations.serialize(layer.activation) == "linear"
    )


def fold_sequential(model: keras.Sequential) -> keras.Sequential:
    """A copy of a `Sequential` model with every foldable (layer, BN) pair folded.

    A pair is folded when a `Dense` or convolution layer with a linear activation is
    directly followed by a BN layer; BN after an activation stays as it is. Layers that
    are not folded are reused, so they share weights with `model`; use
    the result for inference only.

    Args:
        model: A built `keras.Sequential`.

    Returns:
        A new `keras.Sequential` with the same input shape and fewer layers.
    """
    if not isinstance(model, keras.Sequential) or not model.built:
        raise ValueError(f"Expected a built keras.Sequential, got {type(model).__name__}.")
    layers, pending = [], list(model.layers)
    while pending:
        current = pending.pop(0)
        if pending and isinstance(pending[0], BN_LAYERS) and _is_affine(current):
            current = fold_batch_norm(current, pending.pop(0))
        layers.append(current)
    inputs = keras.Input(shape=model.input_shape[1:])
    return keras.Sequential([inputs, *layers], name=f"{model.name}_folded")
