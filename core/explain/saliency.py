"""Gradient saliency and its two smoothed relatives. Maps are (N, H, W) float32 in the model's input
space, not normalised."""

from __future__ import annotations

import numpy as np

from core.explain.gradients import input_gradients
from core.scoring import LoadedModel


def saliency(model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """|d score / d pixel|, max over channels (Simonyan et al. 2014; docs/methods.md)."""
    gradients, _ = input_gradients(model, pixels, targets, batch_size)
    return np.abs(gradients).max(axis=-1)


def smoothgrad(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    samples: int = 16,
    noise: float = 0.15,
    seed: int = 0,
    batch_size: int = 32,
) -> np.ndarray:
    """Mean saliency over `samples` copies with Gaussian noise of std `noise` × 255 (Smilkov et al. 2017)."""
    rng = np.random.default_rng(seed)
    count = len(pixels)
    noisy = np.repeat(pixels, samples, axis=0)
    noisy += rng.normal(0, noise * 255.0, noisy.shape).astype(np.float32)
    gradients, _ = input_gradients(model, noisy, np.repeat(targets, samples), batch_size)
    return np.abs(gradients).max(axis=-1).reshape(count, samples, *pixels.shape[1:3]).mean(axis=1)


BASELINES = ("black", "grey", "white", "blur")


def baseline_of(pixels: np.ndarray, baseline: str) -> np.ndarray:
    """The reference image of Integrated Gradients: black (0), grey (127.5), white (255) or a heavy blur."""
    if baseline == "black":
        return np.zeros_like(pixels)
    if baseline == "grey":
        return np.full_like(pixels, 127.5)
    if baseline == "white":
        return np.full_like(pixels, 255.0)
    if baseline == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = max(pixels.shape[1:3]) / 10
        return np.stack([gaussian_filter(p, sigma=(sigma, sigma, 0), mode="nearest") for p in pixels]).astype(
            np.float32
        )
    raise ValueError(f"baseline must be one of {', '.join(BASELINES)}")


def integrated_gradients(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    *,
    steps: int = 32,
    baseline: str = "black",
    batch_size: int = 32,
) -> np.ndarray:
    """Signed attribution summed over channels: (x − x′) · mean gradient on the straight path from
    the baseline x′ to x, midpoint rule with `steps` points (Sundararajan et al. 2017). Completeness:
    the map sums to about score(x) − score(x′); see `completeness_error`."""
    reference = baseline_of(pixels, baseline)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    path = reference[:, None] + alphas[None, :, None, None, None] * (pixels - reference)[:, None]
    gradients, _ = input_gradients(model, path.reshape(-1, *pixels.shape[1:]), np.repeat(targets, steps), batch_size)
    mean_gradient = gradients.reshape(len(pixels), steps, *pixels.shape[1:]).mean(axis=1)
    return ((pixels - reference) * mean_gradient).sum(axis=-1)


def completeness_error(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, maps: np.ndarray, baseline: str = "black"
) -> np.ndarray:
    """Per image, |sum(map) − (score(x) − score(x′))| / |score(x) − score(x′)|: 0 for exact attributions."""
    rows = np.arange(len(pixels))
    gain = model.scores(pixels)[rows, targets] - model.scores(baseline_of(pixels, baseline))[rows, targets]
    return np.abs(maps.reshape(len(maps), -1).sum(axis=1) - gain) / np.maximum(np.abs(gain), 1e-6)
