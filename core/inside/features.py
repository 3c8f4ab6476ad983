"""A layer's feature maps for an image: each channel's activation, strongest channels first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.inside.layers import layer_named
from core.progress import passes_done
from core.scoring import LoadedModel


@dataclass(frozen=True)
class FeatureMaps:
    layer: str
    maps: np.ndarray  # (h, w, k) float32, one image's activations
    order: np.ndarray  # (k,) channel indices, strongest (largest mean |activation|) first
    strength: np.ndarray  # (k,) mean |activation| of each channel
    limit: float  # the layer's one colour limit: every channel is drawn on it
    signed: bool  # some activations are negative (a layer before its ReLU)


def activations(model: LoadedModel, pixels: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
    """Activations (N, h, w, k) float32 of `layer` (nested base networks included) for model-sized 0..255 pixels;
    one compiled forward pass per model and layer."""
    layer_named(model, layer)  # one sentence naming the layers if there is no such layer
    return layer_outputs(model, pixels, layer, batch_size)[0]


def layer_outputs(
    model: LoadedModel, pixels: np.ndarray, layer: str, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of any `layer` (top level or one nested model deep) and the class scores, both float32, from
    one compiled forward pass per batch of model-sized 0..255 pixels."""

    def build():
        import tensorflow as tf

        from core.explain.gradients import _layer_and_scores

        forward = _layer_and_scores(model, layer)

        @tf.function(input_signature=[model.pixel_signature])
        def run(x):
            return forward(x)

        return run

    run = model.compiled(("layer_outputs", layer), build)
    size = model.batch(batch_size)
    pixels = np.asarray(pixels, np.float32)
    outputs, scores = [], []
    for start in range(0, len(pixels), size):
        found, score = run(pixels[start : start + size])
        outputs.append(found.numpy())
        scores.append(score.numpy())
        passes_done(len(outputs[-1]))  # counted for whoever watches, and where a stop was asked, stopped
    return np.concatenate(outputs).astype(np.float32), np.concatenate(scores).astype(np.float32)


def feature_maps(model: LoadedModel, image: np.ndarray, layer: str) -> FeatureMaps:
    """One RGB uint8 image's feature maps at `layer`, resized to the model first; the colour limit is the 99.5th
    percentile of |activation| over all the layer's channels, so channels compare."""
    from core.render import colour_limit

    pixels = model.spec.resize([image])
    maps = activations(model, pixels, layer)[0]
    strength = np.abs(maps).mean(axis=(0, 1))
    order = np.argsort(-strength, kind="stable")
    signed = bool((maps < 0).any())
    return FeatureMaps(layer, maps, order, strength, colour_limit(maps, signed), signed)
