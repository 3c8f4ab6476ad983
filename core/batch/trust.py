"""The hook through which trust metrics (deletion and insertion curves, localisation) reach a batch run's rows.

The trust package (`core.trust`) supplies them by defining

    batch_metrics(model, pixels, targets, maps, method) -> list[dict[str, float]]

model-sized pixels (N, H, W, C) float32 0..255, target class indices (N,), raw maps (N, H, W) float32 and the
method's name in; one {metric name: value} per image out. Each name becomes a `metric_NAME` column. Until that
package is installed, asking for metrics is one sentence.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from core.errors import UserError

TRUST_MODULE = "core.trust"
ENTRY_POINT = "batch_metrics"
UNAVAILABLE = (
    "--metrics: the trust metrics (deletion, insertion, localisation) are not available in this installation "
    "yet; run without --metrics for the maps, boxes and predictions."
)


def trust_hook() -> Callable:
    """The trust package's `batch_metrics`, or UserError (UNAVAILABLE) when it is not there."""
    try:
        module = importlib.import_module(TRUST_MODULE)
    except ModuleNotFoundError as error:
        if error.name not in (TRUST_MODULE, TRUST_MODULE.partition(".")[0]):
            raise  # the package is there but something it needs is missing: that is its own problem
        raise UserError(UNAVAILABLE) from error
    hook = getattr(module, ENTRY_POINT, None)
    if not callable(hook):
        raise UserError(UNAVAILABLE)
    return hook
