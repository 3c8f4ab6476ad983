"""How much two explanations of the same image agree: for comparing models (or methods) side by side.

Maps from two models live in their own input spaces; both cover the whole image, so they are
compared after resampling to one grid. Boxes are compared in the image's own coordinates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.boxes import iou
from core.render import resize_map

# One line each, shown under every pair and in the report: what the number says.
EXPLANATIONS = {
    "rank_correlation": "Spearman rank correlation of the two maps, pixel by pixel: 1 same ordering, "
    "0 unrelated, −1 opposite.",
    "top_iou": "Overlap (intersection over union) of the {k}% strongest pixels of each map: "
    "1 the same hot spots, 0 none shared.",
    "box_iou": "Overlap of the two boxes fitted to the maps' mass: 1 the same box, 0 apart.",
    "same_prediction": "Whether both models predict the same class for the image.",
}


@dataclass(frozen=True)
class Agreement:
    rank_correlation: float
    top_iou: float
    box_iou: float
    same_prediction: bool
    top_percent: float

    def as_dict(self) -> dict:
        return asdict(self)


def common_grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both maps on the finer of their two grids (each map covers the whole image)."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    return resize_map(a, width, height), resize_map(b, width, height)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps (ties get their mean rank); 0 when either map is constant."""
    from scipy.stats import rankdata

    a, b = common_grid(np.asarray(a, np.float64), np.asarray(b, np.float64))
    ranks_a, ranks_b = rankdata(a.ravel()), rankdata(b.ravel())
    ranks_a -= ranks_a.mean()
    ranks_b -= ranks_b.mean()
    norm = np.sqrt((ranks_a**2).sum() * (ranks_b**2).sum())
    return float((ranks_a * ranks_b).sum() / norm) if norm > 0 else 0.0


def top_region(raw: np.ndarray, percent: float) -> np.ndarray:
    """Boolean mask of the `percent`% highest values (the strongest evidence for the class); exactly that many
    pixels, ties broken by position, so a constant map gives a region too."""
    flat = np.asarray(raw, np.float64).ravel()
    count = int(np.clip(round(flat.size * percent / 100.0), 1, flat.size))
    mask = np.zeros(flat.size, bool)
    mask[np.argsort(-flat, kind="stable")[:count]] = True
    return mask.reshape(raw.shape)


def top_iou(a: np.ndarray, b: np.ndarray, percent: float = 10.0) -> float:
    """Intersection over union of the two maps' top-`percent`% regions."""
    a, b = common_grid(a, b)
    region_a, region_b = top_region(a, percent), top_region(b, percent)
    return float((region_a & region_b).sum() / (region_a | region_b).sum())


def agreement(map_a, map_b, box_a, box_b, label_a: str, label_b: str, percent: float = 10.0) -> Agreement:
    """Every score for one pair of explanations of one image."""
    map_a, map_b = common_grid(np.asarray(map_a, np.float32), np.asarray(map_b, np.float32))  # resampled once
    return Agreement(
        rank_correlation=rank_correlation(map_a, map_b),
        top_iou=top_iou(map_a, map_b, percent),
        box_iou=iou(box_a, box_b),
        same_prediction=label_a == label_b,
        top_percent=percent,
    )


def mean_agreement(rows: list[Agreement]) -> dict:
    """Means over images (same_prediction becomes the share of images where the models agree)."""
    if not rows:
        return {}
    return {
        "rank_correlation": float(np.mean([r.rank_correlation for r in rows])),
        "top_iou": float(np.mean([r.top_iou for r in rows])),
        "box_iou": float(np.mean([r.box_iou for r in rows])),
        "same_prediction": float(np.mean([r.same_prediction for r in rows])),
        "top_percent": rows[0].top_percent,
    }
