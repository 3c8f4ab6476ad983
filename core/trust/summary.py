"""The trust checks over a set of images: per model and method, the mean of each number beside the mean of its
reference, so a table says which model looks at the right thing, not only which is right."""

from __future__ import annotations

import math

import numpy as np


def _mean(values) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def trust_numbers(faith, local=None) -> dict[str, float]:
    """One map's numbers beside their references, flat: deletion and insertion AUC with the random maps' and the
    blob's (`faith`, a FaithfulnessReport), and with a LocalisationReport (`local`) the pointing hit with its chance,
    the energy in the box with the box's area, the fitted box's IoU with a uniform map's and, where the parts are
    known, the share of the map on the dog with the dog's area. What a batch row, a report's numbers and `summarise`
    are made of."""
    found = {"deletion_auc": faith.map.deletion_auc, "insertion_auc": faith.map.insertion_auc}
    for name in ("random", "centre"):
        found[f"deletion_auc_{name}"] = faith.references[name].deletion_auc
        found[f"insertion_auc_{name}"] = faith.references[name].insertion_auc
    if local is not None:
        found |= localisation_numbers(local.map, local.references["uniform"])
    return found


# The numbers above that are references (what random maps, a centred blob or a uniform map score), not the map's own.
REFERENCES = ("_random", "_centre", "pointing_chance", "box_area", "box_iou_uniform", "dog_area")


def is_reference(name: str) -> bool:
    """Whether a number of `trust_numbers` (or a column named after one) is a reference rather than the map's own."""
    return name.endswith(REFERENCES)


def localisation_numbers(found, uniform) -> dict[str, float]:
    """A map's localisation (core.trust.localisation.Localisation) beside a uniform map's: the pointing hit with its
    chance, the energy in the box with the box's area, the fitted box's IoU with a flat map's and, where the parts
    are known, the share of the map on the dog with the dog's area."""
    numbers = {
        "pointing_hit": found.pointing_hit,
        "pointing_chance": uniform.pointing_hit,
        "energy_in_box": found.energy_in_box,
        "box_area": uniform.energy_in_box,
        "box_iou": found.box_iou,
        "box_iou_uniform": uniform.box_iou,
    }
    if found.parts:
        numbers |= {"share_on_dog": _on_dog(found.parts), "dog_area": _on_dog(uniform.parts)}
    return numbers


def summarise(checks: list) -> dict[str, float]:
    """Means over images of (faithfulness report, localisation report or None) pairs: deletion and insertion AUC
    with the random maps' and the blob's, and over the images with a known box the pointing-game accuracy with its
    chance, the energy in the box with the box's area, and the share of the map on the dog with the dog's area."""
    rows = [trust_numbers(faith, local) for faith, local in checks]
    located = [row for row in rows if "pointing_hit" in row]
    found = {"images": len(checks)}
    for name in ("deletion_auc", "deletion_auc_random", "deletion_auc_centre"):
        found[name] = _mean(row[name] for row in rows)
    for name in ("insertion_auc", "insertion_auc_random", "insertion_auc_centre"):
        found[name] = _mean(row[name] for row in rows)
    found["with_box"] = len(located)
    if located:
        found |= {
            "pointing_accuracy": _mean(row["pointing_hit"] for row in located),
            "pointing_chance": _mean(row["pointing_chance"] for row in located),
            "energy_in_box": _mean(row["energy_in_box"] for row in located),
            "box_area": _mean(row["box_area"] for row in located),
            "share_on_dog": _mean(row["share_on_dog"] for row in located if "share_on_dog" in row),
            "dog_area": _mean(row["dog_area"] for row in located if "dog_area" in row),
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
    from core.trust import check_map

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
            truth = labelled_truth(labelled.images[index], *image.pixels.shape[:2])
            checks = check_map(model, image.pixels, result, truth, steps=steps, substrate=substrate)
            pairs.append((checks.faithfulness, checks.localisation))
            done += 1
            if progress is not None:
                progress(done, len(chosen) * len(models))
        per_model[model.name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summarise(pairs).items()}
    return {"method": method, "substrate": substrate, "steps": steps, "images": len(chosen), "models": per_model}
