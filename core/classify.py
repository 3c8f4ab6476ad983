"""Classification of a batch of images: probabilities and the top classes, per model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.memory import guard
from core.scoring import LoadedModel

MAX_TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    index: int


def probability_text(p: float, digits: int = 1) -> str:
    """A probability as a percentage with `digits` decimals, never rounded to 100 % or 0 % unless it is exactly that:
    one more decimal where rounding would hide the difference (0.996 with none reads 99.6%, 0.9996 with one 99.96%),
    and beyond that '>99.9%' or '<0.1%' (0.9996 with none)."""
    p = float(p)
    for places in (digits, digits + 1):
        text = f"{p:.{places}%}"
        hidden = text in (f"{1:.{places}%}", f"{0:.{places}%}") and 0 < p < 1
        if not hidden:
            return text
    step = 10 ** -(places + 2)  # the smallest step shown: 0.1% with one decimal
    return f">{1 - step:.{places}%}" if p > 0.5 else f"<{step:.{places}%}"


def top_k(probabilities: np.ndarray, labels: tuple[str, ...], k: int) -> list[Prediction]:
    """The k most probable classes of one image, most probable first (ties keep class order)."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, MAX_TOP_K, len(labels)))]
    return [Prediction(labels[i], float(probabilities[i]), int(i)) for i in order]


class Ranking(list):
    """One image's top classes (a list of Prediction, most probable first, so it reads as one), with `feature`: how
    far the image's features lie from the pictures the model learned from (a core.familiarity.FeatureDistance;
    None where the model has no feature calibration)."""

    def __init__(self, predictions=(), feature=None) -> None:
        super().__init__(predictions)
        self.feature = feature


def classify(model: LoadedModel, images: list[np.ndarray], k: int = MAX_TOP_K) -> list[Ranking]:
    """Top-k predictions for each RGB uint8 image, and its feature distance where the model has a feature
    calibration, from one batched model pass."""
    from core.familiarity import probabilities_and_features

    with guard(f"Classifying with {model.name}"):
        probabilities, features = probabilities_and_features(model, model.spec.resize(images))
    return [Ranking(top_k(row, model.spec.labels, k), f) for row, f in zip(probabilities, features, strict=True)]


def as_json(predictions: list[Prediction]) -> list[dict]:
    return [{"label": p.label, "probability": round(p.probability, 6)} for p in predictions]
