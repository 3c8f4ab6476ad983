"""Metrics of a classifier on a labelled set: pure NumPy/SciPy functions of arrays, no model and no I/O.

Conventions: `truth` and `predicted` are class indices (N,) int; `probabilities` (N, K) rows summing to 1;
`confidence` is the top class's probability (N,); `correct` (N,) bool. docs/methods.md ("Evaluating a model")
says what each number means and how to read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95 % interval
CALIBRATION_BINS = 15


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927): (low, high), (0, 1) for no trials. Unlike the
    normal approximation it stays inside [0, 1] and is sensible at 0 or n successes."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a hair away.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == total else min(1.0, centre + half)
    return low, high


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int  # images whose true class this is

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


def per_class(matrix: np.ndarray) -> list[ClassScores]:
    """Precision, recall and F1 of each class from a confusion matrix; a ratio with nothing to divide by is 0
    (as scikit-learn's zero_division=0)."""
    matrix = np.asarray(matrix, np.float64)
    hits = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    scores = []
    for k in range(len(matrix)):
        precision = hits[k] / predicted[k] if predicted[k] else 0.0
        recall = hits[k] / actual[k] if actual[k] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScores(float(precision), float(recall), float(f1), int(actual[k])))
    return scores


def majority_rate(truth: np.ndarray, classes: int) -> float:
    """The accuracy of always answering the set's most common class: the floor any model must beat."""
    truth = np.asarray(truth, np.int64)
    return float(np.bincount(truth, minlength=classes).max() / len(truth)) if len(truth) else 0.0


@dataclass(frozen=True)
class Reliability:
    """Equal-width confidence bins (lo, hi]: per bin the images, their mean confidence and accuracy."""

    edges: np.ndarray  # (B + 1,)
    counts: np.ndarray  # (B,) int
    confidence: np.ndarray  # (B,) mean confidence, NaN where empty
    accuracy: np.ndarray  # (B,) share correct, NaN where empty

    @property
    def gaps(self) -> np.ndarray:
        """|accuracy − confidence| per bin, NaN where empty."""
        return np.abs(self.accuracy - self.confidence)

    @property
    def ece(self) -> float:
        """Expected calibration error: the bins' gaps weighted by their share of the images (Naeini et al. 2015,
        Guo et al. 2017)."""
        total = self.counts.sum()
        filled = self.counts > 0
        return float((self.counts[filled] / total * self.gaps[filled]).sum()) if total else 0.0

    @property
    def mce(self) -> float:
        """Maximum calibration error: the largest gap of any non-empty bin."""
        filled = self.counts > 0
        return float(self.gaps[filled].max()) if filled.any() else 0.0


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> Reliability:
    """Top-label reliability: bin i holds confidences in (i/B, (i+1)/B]; a confidence of exactly 0 joins bin 0.
    The edges are k/B computed by one division, so 0.6 falls in (0.5, 0.6] as written."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    edges = np.arange(bins + 1) / bins
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct.astype(np.float64), bins) / counts
    return Reliability(edges, counts, mean_confidence, accuracy)


@dataclass(frozen=True)
class CoverageCurve:
    """Selective classification: keep the images whose confidence is at least a threshold, withhold the rest.
    One point per distinct confidence, most confident first."""

    thresholds: np.ndarray  # (T,) descending
    coverage: np.ndarray  # (T,) share of images kept
    accuracy: np.ndarray  # (T,) accuracy on the kept images
    aurc: float  # area under the risk–coverage curve (Geifman et al. 2019)
    best_aurc: float  # the AURC of a ranking that puts every correct answer first, at this accuracy
    random_aurc: float  # the AURC of a ranking that knows nothing: the error rate at every coverage

    def as_dict(self) -> dict:
        return {
            "thresholds": [round(float(t), 6) for t in self.thresholds],
            "coverage": [round(float(c), 6) for c in self.coverage],
            "accuracy": [round(float(a), 6) for a in self.accuracy],
        }


def coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> CoverageCurve:
    """The coverage–accuracy curve and the area under the risk–coverage curve: the mean, over the images taken
    in order of falling confidence, of the error rate among those taken so far. Images of equal confidence are
    kept or withheld together, so each of them counts the error rate of its whole group."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    n = len(confidence)
    if n == 0:
        empty = np.zeros(0)
        return CoverageCurve(empty, empty, empty, 0.0, 0.0, 0.0)
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence = confidence[order]
    errors = np.cumsum(~correct[order])
    # The last image of each group of equal confidence closes that group.
    last = np.flatnonzero(np.r_[sorted_confidence[1:] != sorted_confidence[:-1], True])
    kept = last + 1
    risk = errors[last] / kept
    group_sizes = np.diff(np.r_[0, kept])
    aurc = float((risk * group_sizes).sum() / n)
    return CoverageCurve(
        thresholds=sorted_confidence[last],
        coverage=kept / n,
        accuracy=1 - risk,
        aurc=aurc,
        best_aurc=best_aurc(n, int((~correct).sum())),
        random_aurc=float((~correct).mean()),
    )


def best_aurc(n: int, errors: int) -> float:
    """The AURC of the best possible ranking of n answers of which `errors` are wrong: every right answer
    first, so the risk is 0 until they are all taken."""
    if n == 0 or errors == 0:
        return 0.0
    right = n - errors
    k = np.arange(right + 1, n + 1)
    return float(((k - right) / k).sum() / n)


@dataclass(frozen=True)
class Selection:
    threshold: float
    kept: int
    withheld: int
    coverage: float
    accuracy: float  # on the kept images; NaN when none is kept


def withhold_below(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> Selection:
    """Keep the answers whose confidence is at least `threshold`, withhold the others."""
    confidence = np.asarray(confidence, np.float64)
    keep = confidence >= threshold
    kept = int(keep.sum())
    accuracy = float(np.asarray(correct, bool)[keep].mean()) if kept else float("nan")
    return Selection(float(threshold), kept, len(confidence) - kept, kept / max(1, len(confidence)), accuracy)


def threshold_for_accuracy(curve: CoverageCurve, target: float) -> float | None:
    """The smallest confidence threshold whose kept answers reach `target` accuracy (so the most answers are
    kept); None when no threshold does."""
    reaching = np.flatnonzero(curve.accuracy >= target - 1e-12)
    return float(curve.thresholds[reaching].min()) if len(reaching) else None


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """McNemar's exact test (two-sided) that two models err equally often on the same images: a binomial test of
    the images only one of them gets right, `only_a` against `only_b`, at one half. 1.0 when they never differ."""
    from scipy.stats import binomtest

    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(min(1.0, binomtest(only_a, discordant, 0.5).pvalue))


@dataclass(frozen=True)
class Agreement:
    """Two models on the same images: the 2×2 table of right and wrong answers, and McNemar's test of it."""

    both_right: int
    only_a: int
    only_b: int
    both_wrong: int
    same_prediction: int  # images on which the two give the same class name
    images: int

    @property
    def mcnemar_p(self) -> float:
        return mcnemar_exact(self.only_a, self.only_b)

    def as_dict(self) -> dict:
        return {
            "both_right": self.both_right,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "both_wrong": self.both_wrong,
            "same_prediction": self.same_prediction,
            "images": self.images,
            "mcnemar_p": self.mcnemar_p,
        }


def agreement(correct_a: np.ndarray, correct_b: np.ndarray, same_prediction: np.ndarray) -> Agreement:
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    return Agreement(
        both_right=int((a & b).sum()),
        only_a=int((a & ~b).sum()),
        only_b=int((~a & b).sum()),
        both_wrong=int((~a & ~b).sum()),
        same_prediction=int(np.asarray(same_prediction, bool).sum()),
        images=len(a),
    )


def suspected_label_errors(probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Images whose given label the model doubts, most doubtful first (indices). Confident learning's rule
    (Northcutt et al. 2021): each class's threshold is the model's mean probability for it over the images
    labelled with it; an image is suspect when another class reaches its own threshold and is the most probable
    such class, while the given label's probability stays below that label's threshold. Only a hint: it is the
    model's view of the labels."""
    probabilities = np.asarray(probabilities, np.float64)
    truth = np.asarray(truth, np.int64)
    n, classes = probabilities.shape
    thresholds = np.full(classes, np.inf)
    for k in range(classes):
        labelled = truth == k
        if labelled.any():
            thresholds[k] = probabilities[labelled, k].mean()
    above = probabilities >= thresholds[None, :]
    masked = np.where(above, probabilities, -np.inf)
    confident_class = masked.argmax(axis=1)
    has_confident = above.any(axis=1)
    given = probabilities[np.arange(n), truth]
    suspect = has_confident & (confident_class != truth) & (given < thresholds[truth])
    indices = np.flatnonzero(suspect)
    return indices[np.argsort(given[indices], kind="stable")]
