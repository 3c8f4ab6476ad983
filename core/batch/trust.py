"""The hook through which trust metrics reach a batch run's rows (`python -m core batch --metrics`):

- `core.trust.batch_metrics(model, pixels, targets, maps, method) -> list[dict[str, float]]`, with model-sized
  pixels (N, H, W, C) float32 0..255, target class indices (N,), raw maps (N, H, W) float32 and the method's name
  in, and one {metric name: value} per image out (deletion and insertion areas with their references);
- `core.trust.batch_localisation(raw, truth) -> dict[str, float]`, for each image whose set says where the object
  is (its box, and a generated set's part masks: `core.trust.summary.labelled_truth`), the pointing game, energy in
  the box, box IoU and part shares with their uniform-map references.

Each name becomes a `metric_NAME` column.
"""

from __future__ import annotations

from collections.abc import Callable


def trust_hook() -> Callable:
    """The trust package's `batch_metrics` (looked up at each run, so a test may stand in for it)."""
    import core.trust

    return core.trust.batch_metrics


def truth_of(image, height: int, width: int):
    """The truth of a core.batch.inputs.BatchImage read at height × width (None where its set gives no box);
    UserError in one sentence for a box that is not inside the image."""
    from core.trust.summary import labelled_truth

    return labelled_truth(image, height, width)


def localisation_metrics(raw, truth) -> dict[str, float]:
    """The localisation numbers of one map against its image's truth ({} without one)."""
    import core.trust

    return core.trust.batch_localisation(raw, truth)
