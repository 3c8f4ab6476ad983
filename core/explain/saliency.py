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
    """Mean saliency over `samples` copies with Gaussian noise of std `noise` × 255 (Smilkov et al. 2017). The
    copies are made ROWS_AT_ONCE at a time, in the same order and with the same noise as all at once."""
    rng = np.random.default_rng(seed)
    targets = np.asarray(targets)
    sums = np.zeros(pixels.shape[:3], np.float64)
    for images, _ in _rows(len(pixels), samples):
        noisy = pixels[images] + rng.normal(0, noise * 255.0, (len(images), *pixels.shape[1:])).astype(np.float32)
        gradients, _ = input_gradients(model, noisy, targets[images], batch_size)
        _add_by_image(sums, images, np.abs(gradients).max(axis=-1))
    return (sums / samples).astype(np.float32)


# Noisy copies (SmoothGrad) or path points (Integrated Gradients) held in memory at once, with their gradients:
# 256 rows of a 224-pixel model are 150 MB each way, however many copies or points a user asks for.
ROWS_AT_ONCE = 256


def _rows(count: int, per_image: int):
    """The rows of `count` images × `per_image` copies, each image's copies in turn, ROWS_AT_ONCE at a time: for
    each chunk, the image and the copy of every row (two int arrays)."""
    total, rows = count * per_image, ROWS_AT_ONCE
    for start in range(0, total, rows):
        index = np.arange(start, min(start + rows, total))
        yield index // per_image, index % per_image


def _add_by_image(sums: np.ndarray, images: np.ndarray, values: np.ndarray) -> None:
    """sums[i] += the sum of the rows of `values` that belong to image i (the rows of one image are together)."""
    for image in np.unique(images):
        sums[image] += values[images == image].sum(axis=0, dtype=np.float64)


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
    difference = pixels - reference
    targets = np.asarray(targets)
    sums = np.zeros(pixels.shape, np.float64)
    for images, points in _rows(len(pixels), steps):  # ROWS_AT_ONCE points of the paths at a time
        path = reference[images] + alphas[points, None, None, None] * difference[images]
        gradients, _ = input_gradients(model, path, targets[images], batch_size)
        _add_by_image(sums, images, gradients)
    return (difference * (sums / steps)).sum(axis=-1).astype(np.float32)


def completeness_error(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, maps: np.ndarray, baseline: str = "black"
) -> np.ndarray:
    """Per image, |sum(map) − (score(x) − score(x′))| / |score(x) − score(x′)|: 0 for exact attributions."""
    rows = np.arange(len(pixels))
    gain = model.scores(pixels)[rows, targets] - model.scores(baseline_of(pixels, baseline))[rows, targets]
    return np.abs(maps.reshape(len(maps), -1).sum(axis=1) - gain) / np.maximum(np.abs(gain), 1e-6)
