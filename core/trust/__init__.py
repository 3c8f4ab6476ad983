"""Can an explanation be trusted? Numbers beside a map, each with the same number for reference maps.

- `faithfulness`: deletion and insertion curves (does removing what the map points at lower the score?);
- `localisation`: pointing game, energy in the box, the fitted box's IoU and the share of the map on each
  part of a generated dog, where the truth is known;
- `sanity`: the map as the model's weights are randomised layer by layer (does the map depend on the model?).

Each is a pure function returning a small frozen dataclass; the costly ones say their cost in model passes
before running (`*_passes`) and take a `progress(done, total)` callback and a `should_stop()` check between
batches. docs/methods.md says how to read each number.
"""

from core.trust.common import Progress, StopCheck, Stopped, centre_blob, random_maps

__all__ = ["Progress", "StopCheck", "Stopped", "batch_localisation", "batch_metrics", "centre_blob", "random_maps"]


def batch_metrics(model, pixels, targets, maps, method: str) -> list[dict[str, float]]:
    """The numbers a batch run (`python -m core batch --metrics`) stores per image: each map's deletion and
    insertion areas (blur substrate, 20 steps) beside the mean of random maps' and a centred blob's, so every row
    carries its own reference. `pixels` model-sized 0..255 (N, H, W, C), `targets` class indices, `maps` (N, H, W);
    `method` names the maps' method (the numbers do not depend on it)."""
    from core.trust.faithfulness import faithfulness_report

    rows = []
    for image, target, raw in zip(pixels, targets, maps, strict=True):
        report = faithfulness_report(model, image, int(target), raw)
        row = {"deletion_auc": report.map.deletion_auc, "insertion_auc": report.map.insertion_auc}
        for name in ("random", "centre"):
            row[f"deletion_auc_{name}"] = report.references[name].deletion_auc
            row[f"insertion_auc_{name}"] = report.references[name].insertion_auc
        rows.append(row)
    return rows


def batch_localisation(raw, truth) -> dict[str, float]:
    """The localisation numbers a batch run with `--metrics` stores for an image whose truth is known
    (core.trust.localisation.Truth; {} for None): whether the map's maximum hits the box (`pointing_hit`, 1 or 0)
    beside the chance that a random pixel does (`pointing_hit_uniform`), the share of its positive mass in the box
    (`energy_in_box`) beside the box's area fraction (`energy_in_box_uniform`, what a uniform map scores), the IoU
    of the box fitted to it (`box_iou`) and, for a generated image with part masks, the share on each part,
    distractors and background (`part_NAME`). `raw` is the map on any grid; it is resized to the truth's image."""
    from core.trust.localisation import box_area_fraction, localisation, pointing_chance, pointing_tolerance

    if truth is None:
        return {}
    found = localisation(raw, truth)
    height, width = truth.size
    box = tuple(float(v) for v in truth.box)
    return {
        "pointing_hit": found.pointing_hit,
        "pointing_hit_uniform": pointing_chance(box, height, width, pointing_tolerance(height, width)),
        "energy_in_box": found.energy_in_box,
        "energy_in_box_uniform": box_area_fraction(box, height, width),
        "box_iou": found.box_iou,
        **{f"part_{name}": share for name, share in found.parts.items()},
    }
