"""Filter patterns: for each chosen filter of a layer, the input that maximises its mean activation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from core.errors import ModelError
from core.inside.ascent import AscentSettings, Progress, ascend
from core.inside.class_model import PRESETS
from core.inside.layers import layer_named
from core.scoring import LoadedModel

# The regularised class model's parameterisation and penalties, with half its jitter, scale and rotation: a filter's
# pattern is smaller than a whole picture (docs/methods.md).
FILTER_SETTINGS = replace(PRESETS["regularised"], jitter=4, scale=0.05, rotation=5.0)
FILTER_STEPS = 48


@dataclass(frozen=True)
class FilterPatterns:
    layer: str
    filters: np.ndarray  # (K,) channel indices
    pixels: np.ndarray  # (K, H, W, C) uint8
    activation: np.ndarray  # (K,) each filter's mean activation on its pattern
    steps: int
    seconds: float
    stopped: bool = False  # stopped early: only the filters finished so far, after fewer steps


def filter_patterns(
    model: LoadedModel,
    layer: str,
    filters: list[int] | np.ndarray | None = None,
    *,
    count: int = 16,
    steps: int = FILTER_STEPS,
    settings: AscentSettings = FILTER_SETTINGS,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> FilterPatterns:
    """Gradient ascent on the mean activation of each filter (the first `count` unless `filters` are given), all
    filters in one batch (as many at once as the model's memory budget allows)."""
    from core.explain.gradients import _layer_and_scores
    from core.inside.statistics import training_statistics

    model.require_gradients("Filter patterns")
    info = layer_named(model, layer)
    channels = info.output_shape[2]
    chosen = np.arange(min(count, channels)) if filters is None else np.asarray(filters, int)
    bad = [int(f) for f in chosen if not 0 <= f < channels]
    if bad or len(chosen) == 0:
        raise ModelError(f"{layer} has filters 0 to {channels - 1}; {bad[0] if bad else 'none'} is not one of them.")
    statistics = training_statistics(model.spec)

    def objective(pixels, targets):
        import tensorflow as tf

        activations, _ = _layer_and_scores(model, layer)(pixels)
        return tf.reduce_mean(tf.gather(activations, targets, axis=3, batch_dims=1), axis=[1, 2])

    size = model.batch(len(chosen), gradients=True)
    parts, values, seconds, stopped = [], [], 0.0, False
    for start in range(0, len(chosen), size):
        result = ascend(
            model,
            ("filters", layer),
            objective,
            chosen[start : start + size],
            steps,
            settings,
            statistics.mean,
            statistics.colour,
            chunk=max(1, steps // 4),
            progress=progress,
            stop=stop,
        )
        parts.append(np.clip(np.round(result.pixels), 0, 255).astype(np.uint8))
        values.append(result.objective)
        seconds += result.seconds
        if result.stopped:
            stopped = True
            break
    pixels = np.concatenate(parts)
    return FilterPatterns(layer, chosen[: len(pixels)], pixels, np.concatenate(values), steps, seconds, stopped)
