"""The trust checks over a set of images: per model and method, the mean of each number beside the mean of its
reference, so a table says which model looks at the right thing, not only which is right."""

from __future__ import annotations

import math

import numpy as np


def _mean(values) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def summarise(checks: list) -> dict[str, float]:
    """Means over images of (faithfulness report, localisation report or None) pairs: deletion and insertion AUC
    with the random maps' and the blob's, and over the images with a known box the pointing-game accuracy with its
    chance, the energy in the box with the box's area, and the share of the map on the dog with the dog's area."""
    faiths = [faith for faith, _ in checks]
    locals_ = [local for _, local in checks if local is not None]
    found = {
        "images": len(checks),
        "deletion_auc": _mean(f.map.deletion_auc for f in faiths),
        "deletion_auc_random": _mean(f.references["random"].deletion_auc for f in faiths),
        "deletion_auc_centre": _mean(f.references["centre"].deletion_auc for f in faiths),
        "insertion_auc": _mean(f.map.insertion_auc for f in faiths),
        "insertion_auc_random": _mean(f.references["random"].insertion_auc for f in faiths),
        "insertion_auc_centre": _mean(f.references["centre"].insertion_auc for f in faiths),
        "with_box": len(locals_),
    }
    if locals_:
        dog = [(_on_dog(r.map.parts), _on_dog(r.references["uniform"].parts)) for r in locals_ if r.map.parts]
        found |= {
            "pointing_accuracy": _mean(r.map.pointing_hit for r in locals_),
            "pointing_chance": _mean(r.references["uniform"].pointing_hit for r in locals_),
            "energy_in_box": _mean(r.map.energy_in_box for r in locals_),
            "box_area": _mean(r.references["uniform"].energy_in_box for r in locals_),
            "share_on_dog": _mean(d for d, _ in dog),
            "dog_area": _mean(a for _, a in dog),
        }
    return found


def _on_dog(parts: dict[str, float]) -> float:
    return sum(share for part, share in parts.items() if part not in ("cue", "distractors", "background"))
