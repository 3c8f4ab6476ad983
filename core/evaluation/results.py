"""A scored set read as an evaluation: per model its answers against the true labels and every metric of
`metrics`, the galleries (which images to look at), the two models side by side, and the files the command
line writes (predictions table and metrics.json)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from core.evaluation import metrics
from core.evaluation.data import DataError, LabelMapping
from core.evaluation.scoring import ModelScores, ScoredSet

GALLERY_SIZE = 12


@dataclass(frozen=True)
class TTASummary:
    """The same images with and without test-time augmentation."""

    mode: str
    accuracy: float
    accuracy_with: float
    changed: int  # images whose predicted class the augmentation changes
    fixed: int  # wrong without, right with
    broken: int  # right without, wrong with
    images: int

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "accuracy_without": self.accuracy,
            "accuracy_with": self.accuracy_with,
            "changed": self.changed,
            "changed_share": self.changed / self.images if self.images else 0.0,
            "fixed": self.fixed,
            "broken": self.broken,
        }


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's answers on the evaluated images (rows in `Evaluation.images` order)."""

    model: str
    labels: tuple[str, ...]  # the model's labels
    truth: np.ndarray  # (N,) index into labels
    probabilities: np.ndarray  # (N, K)
    tta_probabilities: np.ndarray | None = None
    tta: str = "none"

    @cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @cached_property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.predicted == self.truth

    @property
    def images(self) -> int:
        return len(self.truth)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.images else 0.0

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        return metrics.wilson_interval(int(self.correct.sum()), self.images)

    @property
    def majority_rate(self) -> float:
        return metrics.majority_rate(self.truth, len(self.labels))

    @cached_property
    def shown_classes(self) -> list[int]:
        """The classes in the truth or the predictions, in the model's order: a 1,000-class model's confusion
        matrix shows only those."""
        return sorted(set(self.truth.tolist()) | set(self.predicted.tolist()))

    @cached_property
    def confusion(self) -> np.ndarray:
        """(C, C) counts over `shown_classes`: row = true class, column = predicted class."""
        position = {k: i for i, k in enumerate(self.shown_classes)}
        truth = np.array([position[k] for k in self.truth.tolist()], np.int64)
        predicted = np.array([position[k] for k in self.predicted.tolist()], np.int64)
        return metrics.confusion_matrix(truth, predicted, len(self.shown_classes))

    @cached_property
    def per_class(self) -> dict[str, metrics.ClassScores]:
        scores = metrics.per_class(self.confusion)
        return {self.labels[k]: score for k, score in zip(self.shown_classes, scores, strict=True)}

    @cached_property
    def reliability(self) -> metrics.Reliability:
        return metrics.reliability(self.confidence, self.correct)

    @cached_property
    def coverage(self) -> metrics.CoverageCurve:
        return metrics.coverage_curve(self.confidence, self.correct)

    @cached_property
    def tta_summary(self) -> TTASummary | None:
        if self.tta_probabilities is None:
            return None
        with_tta = self.tta_probabilities.argmax(axis=1)
        right_with = with_tta == self.truth
        return TTASummary(
            self.tta,
            self.accuracy,
            float(right_with.mean()) if self.images else 0.0,
            int((with_tta != self.predicted).sum()),
            int((~self.correct & right_with).sum()),
            int((self.correct & ~right_with).sum()),
            self.images,
        )

    # --- galleries: image rows, in the order they are shown ------------------------------------------------

    def most_confident_correct(self) -> list[int]:
        rows = np.flatnonzero(self.correct)
        return rows[np.argsort(-self.confidence[rows], kind="stable")].tolist()

    def least_confident(self) -> list[int]:
        return np.argsort(self.confidence, kind="stable").tolist()

    def confidently_wrong(self) -> list[int]:
        rows = np.flatnonzero(~self.correct)
        return rows[np.argsort(-self.confidence[rows], kind="stable")].tolist()

    def suspected_label_errors(self) -> list[int]:
        return metrics.suspected_label_errors(self.probabilities, self.truth).tolist()

    def confusion_cell(self, true_label: str, predicted_label: str) -> list[int]:
        """The images of one confusion matrix cell, most confident first."""
        t, p = self.labels.index(true_label), self.labels.index(predicted_label)
        rows = np.flatnonzero((self.truth == t) & (self.predicted == p))
        return rows[np.argsort(-self.confidence[rows], kind="stable")].tolist()

    def as_dict(self) -> dict:
        low, high = self.accuracy_interval
        curve = self.coverage
        reliability = self.reliability
        return {
            "images": self.images,
            "accuracy": self.accuracy,
            "accuracy_ci": [low, high],
            "majority_rate": self.majority_rate,
            "per_class": {label: score.as_dict() for label, score in self.per_class.items()},
            "confusion": {
                "labels": [self.labels[k] for k in self.shown_classes],
                "matrix": self.confusion.tolist(),
            },
            "ece": reliability.ece,
            "mce": reliability.mce,
            "reliability": {
                "bins": len(reliability.counts),
                "counts": reliability.counts.tolist(),
                "confidence": [_finite(v) for v in reliability.confidence],
                "accuracy": [_finite(v) for v in reliability.accuracy],
            },
            "aurc": curve.aurc,
            "best_aurc": curve.best_aurc,
            "random_aurc": curve.random_aurc,
            "coverage_curve": curve.as_dict(),
            "tta": None if self.tta_summary is None else self.tta_summary.as_dict(),
        }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


@dataclass(frozen=True)
class Evaluation:
    """One or two models on the images of a set whose classes every model's mapping names."""

    scored: ScoredSet
    mappings: dict[str, LabelMapping]
    models: tuple[ModelEvaluation, ...]
    rows: tuple[int, ...]  # for each evaluated image, its index in scored.images
    left_out: int = 0  # readable images of classes mapped to nothing
    extra: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [m.model for m in self.models]

    @property
    def images(self):
        return [self.scored.images[i] for i in self.rows]

    @property
    def sha256(self) -> list[str]:
        return [self.scored.sha256[i] for i in self.rows]

    def model(self, name: str) -> ModelEvaluation:
        return next(m for m in self.models if m.model == name)

    @property
    def pair(self) -> bool:
        return len(self.models) == 2

    @cached_property
    def agreement(self) -> metrics.Agreement | None:
        if not self.pair:
            return None
        a, b = self.models
        same = np.array(
            [a.labels[i] == b.labels[j] for i, j in zip(a.predicted.tolist(), b.predicted.tolist(), strict=True)], bool
        )
        return metrics.agreement(a.correct, b.correct, same)

    def disagreements(self) -> list[int]:
        """Images on which the two models name different classes, those only one gets right first."""
        if not self.pair:
            return []
        a, b = self.models
        rows = [
            r
            for r, (i, j) in enumerate(zip(a.predicted.tolist(), b.predicted.tolist(), strict=True))
            if a.labels[i] != b.labels[j]
        ]
        return sorted(rows, key=lambda r: (a.correct[r] == b.correct[r], -max(a.confidence[r], b.confidence[r])))

    def as_dict(self) -> dict:
        labelled = self.scored.labelled
        result = {
            "set": {
                "name": labelled.name,
                "kind": labelled.kind,
                "images": len(self.rows),
                "classes": list(labelled.classes),
                "left_out": self.left_out,
                "unreadable": [{"image": name, "reason": reason} for name, reason in self.scored.unreadable],
            },
            "mapping": {name: mapping.pairs for name, mapping in self.mappings.items()},
            "models": {m.model: m.as_dict() for m in self.models},
        }
        if self.pair:
            result["agreement"] = {"models": self.names, **self.agreement.as_dict()}
        return result

    def predictions_frame(self):
        """One row per (image, model): image, sha256, the set's label, the true label in the model's words, the
        predicted label, confidence, correct, every class's probability (p: LABEL) and, with TTA, the same for
        the averaged views (tta …); the true box where known."""
        import pandas as pd

        frames = []
        images = self.images
        for m in self.models:
            columns = {
                "image": [image.name for image in images],
                "sha256": self.sha256,
                "model": m.model,
                "set_label": [image.label for image in images],
                "true_label": [m.labels[k] for k in m.truth.tolist()],
                "predicted_label": [m.labels[k] for k in m.predicted.tolist()],
                "confidence": m.confidence.astype(np.float64),
                "correct": m.correct,
            }
            for k, label in enumerate(m.labels):
                columns[f"p: {label}"] = m.probabilities[:, k].astype(np.float64)
            if m.tta_probabilities is not None:
                tta_predicted = m.tta_probabilities.argmax(axis=1)
                columns["tta"] = m.tta
                columns["tta_predicted_label"] = [m.labels[k] for k in tta_predicted.tolist()]
                columns["tta_confidence"] = m.tta_probabilities.max(axis=1).astype(np.float64)
                columns["tta_correct"] = tta_predicted == m.truth
                for k, label in enumerate(m.labels):
                    columns[f"tta p: {label}"] = m.tta_probabilities[:, k].astype(np.float64)
            for position, key in enumerate(("box_x0", "box_y0", "box_x1", "box_y1")):
                columns[key] = pd.array([None if i.box is None else i.box[position] for i in images], dtype="Int64")
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)


def evaluate(scored: ScoredSet, mappings: dict[str, LabelMapping]) -> Evaluation:
    """The evaluation of every scored model on the images whose set class each model's mapping names; a class
    mapped to nothing (None) is left out, and said so. DataError when nothing is left."""
    names = list(scored.scores)
    for name in names:
        if name not in mappings:
            raise DataError(f"No label mapping was given for {name}.")
    rows = [r for r, image in enumerate(scored.images) if all(mappings[n].pairs.get(image.label) for n in names)]
    if not rows:
        if not scored.images:
            raise DataError(f"None of the images of {scored.labelled.name} could be read.")
        raise DataError("No image is left to evaluate: every class of the set is mapped to nothing.")
    evaluations = []
    for name in names:
        score: ModelScores = scored.scores[name]
        labels = score.labels
        truth = np.array([labels.index(mappings[name].pairs[scored.images[r].label]) for r in rows], np.int64)
        evaluations.append(
            ModelEvaluation(
                name,
                labels,
                truth,
                score.probabilities[rows],
                None if score.tta_probabilities is None else score.tta_probabilities[rows],
                score.tta,
            )
        )
    return Evaluation(scored, mappings, tuple(evaluations), tuple(rows), len(scored.images) - len(rows))
