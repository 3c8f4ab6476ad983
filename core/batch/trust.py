"""The hook through which trust metrics (deletion and insertion areas with their references) reach a batch run's
rows: `core.trust.batch_metrics(model, pixels, targets, maps, method) -> list[dict[str, float]]`, with
model-sized pixels (N, H, W, C) float32 0..255, target class indices (N,), raw maps (N, H, W) float32 and the
method's name in, and one {metric name: value} per image out. Each name becomes a `metric_NAME` column.
"""

from __future__ import annotations

from collections.abc import Callable


def trust_hook() -> Callable:
    """The trust package's `batch_metrics` (looked up at each run, so a test may stand in for it)."""
    import core.trust

    return core.trust.batch_metrics
