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


def top_k(probabilities: np.ndarray, labels: tuple[str, ...], k: int) -> list[Prediction]:
    """The k most probable classes of one image, most probable first (ties keep class order)."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, MAX_TOP_K, len(labels)))]
    return [Prediction(labels[i], float(probabilities[i]), int(i)) for i in order]


def classify(model: LoadedModel, images: list[np.ndarray], k: int = MAX_TOP_K) -> list[list[Prediction]]:
    """Top-k predictions for each RGB uint8 image, from one batched model pass."""
    with guard(f"Classifying with {model.name}"):
        probabilities = model.probabilities(model.spec.resize(images))
    return [top_k(row, model.spec.labels, k) for row in probabilities]


def as_json(predictions: list[Prediction]) -> list[dict]:
    return [{"label": p.label, "probability": round(p.probability, 6)} for p in predictions]
