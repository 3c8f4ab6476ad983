"""The mean training image and the colour correlation of a model's training images.

For the bundled models, computed from the generated set they were trained on (its first images, kept on disk after
the first time); for the ImageNet models, the ImageNet mean colour; otherwise, mid-grey. The colour correlation
comes from the same images where there are any, else from the sample photos.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from core.render import resize_map
from core.spec import ModelSpec

MEAN_IMAGES = 256  # generated training images averaged: the per-pixel mean is within about 4 of 255 of the full set's
_IMAGENET_MEAN = (0.485, 0.456, 0.406)


@dataclass(frozen=True)
class TrainingStatistics:
    mean: np.ndarray  # (H, W, C) float32 in 0..255, the model's input size
    colour: np.ndarray  # (C, C) float32: the square root of the colour covariance, scaled to a largest column of 1
    source: str  # what they were computed from, in words


_lock = threading.Lock()
_computed: dict[tuple, TrainingStatistics] = {}


def training_statistics(spec: ModelSpec) -> TrainingStatistics:
    """The statistics of a model's training images (see the module's docstring); computed once per process."""
    key = (spec.name, spec.input_size, spec.colour_mode, spec.format)
    with _lock:
        if key not in _computed:
            _computed[key] = _compute(spec)
        return _computed[key]


def _compute(spec: ModelSpec) -> TrainingStatistics:
    from core.catalog import BUNDLED

    height, width = spec.input_size
    seed = spec.card.get("seed")
    if spec.name in BUNDLED and isinstance(seed, int):
        mean, colour = _generated(seed)
        if mean.shape[:2] != (height, width):
            mean = np.stack([resize_map(mean[..., c], width, height) for c in range(mean.shape[-1])], axis=-1)
        if spec.channels == 1:
            mean, colour = mean.mean(axis=-1, keepdims=True), np.ones((1, 1), np.float32)
        return TrainingStatistics(
            mean.astype(np.float32),
            colour,
            f"the mean of the first {MEAN_IMAGES} images of the generated set {seed} it was trained on",
        )
    photos = spec.resize([sample.image.pixels for sample in _samples()])
    if spec.format == "applications":
        colour = np.array(_IMAGENET_MEAN, np.float32) * 255
        if spec.channels == 1:
            colour = colour.mean(keepdims=True)
        mean = np.broadcast_to(colour, (height, width, spec.channels)).astype(np.float32)
        return TrainingStatistics(mean, colour_root(photos), "the ImageNet mean colour")
    mean = np.full((height, width, spec.channels), 127.5, np.float32)
    return TrainingStatistics(mean, colour_root(photos), "mid-grey: the model's training images are not known")


def colour_root(images: np.ndarray) -> np.ndarray:
    """U · sqrt(S) of the colour covariance U S Uᵀ of images (N, H, W, C) in 0..1 units, scaled so its largest
    column has length 1: multiplying independent unit noise by it gives noise with the images' colour correlation."""
    channels = images.shape[-1]
    values = images.reshape(-1, channels).astype(np.float64) / 255.0
    covariance = np.atleast_2d(np.cov(values, rowvar=False))
    eigenvalues, vectors = np.linalg.eigh(covariance)
    root = vectors * np.sqrt(np.maximum(eigenvalues, 0))[None]
    return (root / max(np.linalg.norm(root, axis=0).max(), 1e-12)).astype(np.float32)


def _generated(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean image and colour root of the first MEAN_IMAGES images of a generated set (about 30 s on two cores
    the first time, then read from the cache folder)."""
    from core import dataset
    from core.evaluation.data import cache_folder

    path = cache_folder() / f"training-statistics-{seed}-{MEAN_IMAGES}.npz"
    if path.is_file():
        try:
            with np.load(path) as saved:
                return saved["mean"], saved["colour"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged file is made again
    images, _ = dataset.generate_batch(seed, MEAN_IMAGES)
    mean = images.mean(axis=0, dtype=np.float64).astype(np.float32)
    colour = colour_root(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.stem}-{threading.get_ident()}.npz")
    np.savez(scratch, mean=mean, colour=colour)
    scratch.replace(path)  # whole or not at all
    return mean, colour


def _samples():
    from core.samples import sample_images

    return sample_images()
