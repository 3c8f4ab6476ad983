"""Can an explanation be trusted? Numbers beside a map, each with the same number for reference maps.

- `faithfulness`: deletion and insertion curves (does removing what the map points at lower the score?);
- `localisation`: pointing game, energy in the box, the fitted box's IoU and the share of the map on each
  part of a generated dog, where the truth is known;
- `sanity`: the map as the model's weights are randomised layer by layer (does the map depend on the model?).

Each is a pure function returning a small frozen dataclass; the costly ones say their cost in model passes
before running (`*_passes`) and take a `progress(done, total)` callback and a `should_stop()` check between
batches. docs/methods.md says how to read each number.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.trust.common import Progress, StopCheck, Stopped, centre_blob, random_maps

__all__ = [
    "Progress",
    "StopCheck",
    "Stopped",
    "TrustResult",
    "batch_localisation",
    "batch_metrics",
    "centre_blob",
    "check_map",
    "random_maps",
]


@dataclass(frozen=True)
class TrustResult:
    """One map's checks: faithfulness (core.trust.faithfulness.FaithfulnessReport) and, where the truth is known,
    localisation (core.trust.localisation.LocalisationReport, else None); `target_label` names the class explained."""

    faithfulness: object
    localisation: object | None
    target_label: str


def check_map(model, pixels, result, truth=None, *, steps: int = 20, substrate: str = "blur", tol: float = 0.9,
              progress: Progress | None = None, should_stop: StopCheck | None = None) -> TrustResult:  # fmt: skip
    """The checks of one explanation (core.explain.Explanation) of an image (`pixels`, the image's own 0..255
    (H, W, C)): deletion and insertion on the model-sized image beside random maps and a centred blob, and, with a
    `truth` (core.trust.localisation.Truth on the image's grid), localisation. Costs
    `faithfulness.report_passes(0, steps)` model passes."""
    from core.trust.faithfulness import faithfulness_report
    from core.trust.localisation import localisation_report

    model_pixels = model.spec.resize([pixels])[0]
    faith = faithfulness_report(
        model, model_pixels, result.target, result.map, steps=steps, substrate=substrate, progress=progress,
        should_stop=should_stop,
    )  # fmt: skip
    local = None if truth is None else localisation_report(result.map, truth, tol=tol)
    return TrustResult(faith, local, result.target_label)


def batch_metrics(model, pixels, targets, maps, method: str) -> list[dict[str, float]]:
    """The numbers a batch run (`python -m core batch --metrics`) stores per image: each map's deletion and
    insertion areas (blur substrate, 20 steps) beside the mean of random maps' and a centred blob's, so every row
    carries its own reference. `pixels` model-sized 0..255 (N, H, W, C), `targets` class indices, `maps` (N, H, W);
    `method` names the maps' method (the numbers do not depend on it)."""
    from core.trust.faithfulness import faithfulness_report
    from core.trust.summary import trust_numbers

    return [
        trust_numbers(faithfulness_report(model, image, int(target), raw))
        for image, target, raw in zip(pixels, targets, maps, strict=True)
    ]


def batch_localisation(raw, truth) -> dict[str, float]:
    """The localisation numbers a batch run with `--metrics` stores for an image whose truth is known
    (core.trust.localisation.Truth; {} for None): `core.trust.summary.localisation_numbers` (the pointing hit, the
    energy in the box and the fitted box's IoU, each beside a uniform map's, and the share on the dog beside its
    area) and, for a generated image with part masks, the share on each part, distractors and background
    (`part_NAME`). `raw` is the map on any grid; it is resized to the truth's image."""
    from core.trust.localisation import localisation, uniform_reference
    from core.trust.summary import localisation_numbers

    if truth is None:
        return {}
    found = localisation(raw, truth)
    return localisation_numbers(found, uniform_reference(truth)) | {
        f"part_{name}": share for name, share in found.parts.items()
    }
