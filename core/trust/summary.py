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


def spread(count: int, total: int) -> list[int]:
    """`count` indices spread evenly over `total` items, first and last included (fewer when count > total)."""
    if total <= 0 or count <= 0:
        return []
    return [int(i) for i in np.unique(np.linspace(0, total - 1, int(count)).round().astype(int))]


def labelled_truth(image, height: int, width: int):
    """The truth (core.trust.localisation.Truth) of a core.evaluation LabelledImage (or anything with its `box`,
    `parts` and `distractors`) read at height × width: its box, and a generated set's part and distractor masks
    where it has them and they fit; None without a box. UserError in one sentence for a box outside the image."""
    from core.dataset import PARTS
    from core.trust.localisation import Truth

    if image.box is None:
        return None
    box = tuple(float(v) for v in image.box)
    parts = _mask(image.parts, height, width)
    if parts is None:
        return Truth(box, (height, width))
    distractors = _mask(getattr(image, "distractors", None), height, width)
    return Truth(box, (height, width), parts, None if distractors is None else distractors > 0, PARTS)


def _mask(path, height: int, width: int) -> np.ndarray | None:
    """A mask file of a generated set as (H, W) uint8, or None when there is none, it cannot be read or it does not
    fit the image."""
    if path is None:
        return None
    from PIL import Image

    try:
        with Image.open(path) as mask:
            found = np.asarray(mask.convert("L"))
    except OSError:
        return None
    return found if found.shape == (height, width) else None


def trust_over_set(models: list, labelled, method: str, *, count: int = 20, steps: int = 20, substrate: str = "blur",
                   progress=None) -> dict:  # fmt: skip
    """The trust checks of `method`'s maps (of each model's own prediction) on `count` images spread over a labelled
    set (core.evaluation), summarised per model (`summarise`): what `evaluate --method M --metrics` writes.
    `progress(done, total)` after each image and model."""
    from core.errors import UserError
    from core.evaluation.data import load_image
    from core.explain import explain_images
    from core.trust.faithfulness import faithfulness_report
    from core.trust.localisation import localisation_report

    chosen = spread(count, len(labelled.images))
    per_model = {}
    done = 0
    for model in models:
        pairs = []
        for index in chosen:
            try:
                image = load_image(labelled.images[index])
            except UserError:
                continue
            result = explain_images(model, [image.pixels], method)[0]
            pixels = model.spec.resize([image.pixels])[0]
            faith = faithfulness_report(model, pixels, result.target, result.map, steps=steps, substrate=substrate)
            truth = labelled_truth(labelled.images[index], *image.pixels.shape[:2])
            pairs.append((faith, None if truth is None else localisation_report(result.map, truth)))
            done += 1
            if progress is not None:
                progress(done, len(chosen) * len(models))
        per_model[model.name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summarise(pairs).items()}
    return {"method": method, "substrate": substrate, "steps": steps, "images": len(chosen), "models": per_model}
