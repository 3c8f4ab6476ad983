"""The image patches that excite a filter most: its receptive field around its strongest activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ModelError
from core.inside.features import activations
from core.inside.layers import layer_named, receptive_fields
from core.scoring import LoadedModel


@dataclass(frozen=True)
class Patch:
    image: int  # index of the source image
    position: tuple[int, int]  # (row, column) in the layer's output
    activation: float
    box: tuple[int, int, int, int]  # [x0, y0, x1, y1) in the model-sized image
    pixels: np.ndarray  # the crop (h, w, C) uint8 of the model-sized image


def exciting_patches(
    model: LoadedModel, images: list[np.ndarray], layer: str, filter_index: int, *, count: int = 8, overlap: float = 0.3
) -> tuple[list[Patch], np.ndarray]:
    """The `count` patches of the images (RGB uint8, any size) where filter `filter_index` of `layer` is most active,
    strongest first; a patch overlapping an already chosen one of the same image by more than `overlap` (IoU) is
    passed over. Also returns the model-sized images (N, H, W, C) uint8 the boxes refer to."""
    info = layer_named(model, layer)
    channels = info.output_shape[2]
    if not 0 <= filter_index < channels:
        raise ModelError(f"{layer} has filters 0 to {channels - 1}; {filter_index} is not one of them.")
    if not images:
        raise ModelError("Finding the patches that excite a filter needs at least one image.")
    pixels = model.spec.resize(images)
    sized = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    field = receptive_fields(model.model)[layer]
    maps = activations(model, pixels, layer)[..., filter_index]  # (N, h, w)
    height, width = model.spec.input_size
    order = np.argsort(-maps, axis=None, kind="stable")
    chosen: list[Patch] = []
    for flat in order:
        if len(chosen) == count:
            break
        n, i, j = np.unravel_index(flat, maps.shape)
        box = field.box(int(i), int(j), height, width)
        if any(p.image == n and _iou(p.box, box) > overlap for p in chosen):
            continue
        x0, y0, x1, y1 = box
        chosen.append(Patch(int(n), (int(i), int(j)), float(maps[n, i, j]), box, sized[n, y0:y1, x0:x1]))
    return chosen, sized


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
