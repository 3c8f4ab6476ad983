"""Grad-CAM and Grad-CAM++: class activation maps from a convolutional layer's gradients.
Maps are (N, H, W) float32, resized to the model's input, ReLU applied, not normalised."""

from __future__ import annotations

import numpy as np

from core.explain.gradients import default_layer, layer_gradients
from core.render import resize_map
from core.scoring import LoadedModel


def _weights_gradcam(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Channel weights: spatial mean of the gradients (Selvaraju et al. 2017)."""
    return gradients.mean(axis=(1, 2))


def _weights_gradcam_plus_plus(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Channel weights from positive gradients weighted by alpha (Chattopadhyay et al. 2018),
    with the usual exponential-score closed form: alpha = g² / (2g² + ΣA·g³)."""
    squared, cubed = gradients**2, gradients**3
    denominator = 2 * squared + activations.sum(axis=(1, 2), keepdims=True) * cubed
    alphas = squared / np.where(denominator != 0, denominator, 1)
    return (alphas * np.maximum(gradients, 0)).sum(axis=(1, 2))


def class_activation_maps(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    layer: str | None = None,
    plus_plus: bool = False,
    resize: bool = True,
    batch_size: int = 32,
) -> np.ndarray:
    """ReLU(Σ_k w_k A_k) at `layer` (default: the spec's, else the last spatial layer), optionally resized
    bilinearly to the input size."""
    activations, gradients, _ = layer_gradients(model, pixels, targets, layer or default_layer(model), batch_size)
    weigh = _weights_gradcam_plus_plus if plus_plus else _weights_gradcam
    maps = np.maximum(np.einsum("nk,nhwk->nhw", weigh(activations, gradients), activations), 0).astype(np.float32)
    if not resize:
        return maps
    height, width = pixels.shape[1:3]
    return np.stack([resize_map(m, width, height) for m in maps])


def gradcam(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, *, layer: str | None = None, batch_size: int = 32
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017)."""
    return class_activation_maps(model, pixels, targets, layer=layer, batch_size=batch_size)


def gradcam_plus_plus(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, *, layer: str | None = None, batch_size: int = 32
) -> np.ndarray:
    """Grad-CAM++ (Chattopadhyay et al. 2018)."""
    return class_activation_maps(model, pixels, targets, layer=layer, plus_plus=True, batch_size=batch_size)
