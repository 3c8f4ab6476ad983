"""How much two explanations of the same image agree: for comparing models (or methods) side by side.

Maps from two models live in their own input spaces; both cover the whole image, so they are
compared after resampling to one grid. Boxes are compared in the image's own coordinates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.boxes import iou
from core.render import resize_map


@dataclass(frozen=True)
class Score:
    """One agreement score in words: a plain name, how to read it, and what is computed ({k}: the top-k %)."""

    label: str
    reading: str
    detail: str

    def read(self, percent: float) -> tuple[str, str, str]:
        """(label, reading, detail) with the top-k % and its chance level filled in."""
        values = {"k": f"{percent:g}", "chance": f"{chance_top_iou(percent):.2f}"}
        return self.label.format(**values), self.reading.format(**values), self.detail.format(**values)


# Shown under every pair, in the report and in the tables' help: what each number says and what is good.
SCORES = {
    "rank_correlation": Score(
        "Same pixel ranking",
        "1: both maps rank the pixels in the same order; 0: unrelated, as two random maps; −1: opposite.",
        "Spearman rank correlation of the two maps, pixel by pixel, on the finer of their two grids.",
    ),
    "top_iou": Score(
        "Shared hot spots",
        "How much each map's strongest {k}% of pixels overlap: 1 the same spots, 0 none shared; two random maps "
        "score about {chance}.",
        "Intersection over union (IoU) of the two maps' top-{k}% regions.",
    ),
    "box_iou": Score(
        "Box overlap",
        "How much the two boxes fitted to the maps overlap: 1 the same box, 0 apart.",
        "Intersection over union (IoU) of the two boxes, in the image's pixels.",
    ),
    "same_prediction": Score(
        "Predictions",
        "Whether both models predict the same class; not comparable where one model's answer is not among the "
        "other's classes.",
        "The two top-1 class names compared; only where each is a class of both models.",
    ),
}


def chance_top_iou(percent: float) -> float:
    """The expected top-k % IoU of two unrelated maps: regions of share p overlap by p², so p² / (2p − p²)."""
    share = percent / 100.0
    return share / (2.0 - share)


@dataclass(frozen=True)
class ClassSets:
    """The classes two models choose among: their answers compare only within the classes both know."""

    a: tuple[str, ...]
    b: tuple[str, ...]

    @property
    def same(self) -> bool:
        return set(self.a) == set(self.b)

    @property
    def shared(self) -> tuple[str, ...]:
        """The classes of both models, in model A's order."""
        return tuple(label for label in self.a if label in set(self.b))

    def comparable(self, label_a: str, label_b: str) -> bool:
        """Whether two predictions can agree or disagree: each model could have given the other's answer."""
        return label_a in set(self.b) and label_b in set(self.a)

    def sentence(self, name_a: str, name_b: str) -> str | None:
        """One plain sentence when the class sets differ (None when they are the same)."""
        if self.same:
            return None
        shared = self.shared
        both = (
            f"they share {len(shared)} ({_some(shared)}), so their answers are compared only where each model could "
            "have given the other's"
            if shared
            else "they share none, so their answers cannot agree or disagree"
        )
        return (
            f"The models choose among different classes: {name_a} among {len(self.a)} ({_some(self.a)}), {name_b} "
            f"among {len(self.b)} ({_some(self.b)}); {both}."
        )


@dataclass(frozen=True)
class Agreement:
    rank_correlation: float
    top_iou: float
    box_iou: float
    same_prediction: bool | None  # None: not comparable (one answer is not among the other model's classes)
    top_percent: float
    explained_a: str = ""  # the class each model's map explains
    explained_b: str = ""

    @property
    def same_class(self) -> bool:
        """Whether both maps explain the same class (else the scores compare evidence for two classes)."""
        return self.explained_a == self.explained_b

    @property
    def predictions_word(self) -> str:
        """'agree', 'differ' or 'not comparable'."""
        return {True: "agree", False: "differ", None: "not comparable"}[self.same_prediction]

    def explained_sentence(self, name_a: str, name_b: str) -> str:
        """Which class each map explains, in one sentence; says so plainly when they differ."""
        if self.same_class:
            return f"Both maps explain “{self.explained_a}”."
        return (
            f"The maps explain different classes: {name_a} “{self.explained_a}”, {name_b} “{self.explained_b}”; "
            "the scores compare where each model finds evidence for its own class."
        )

    def as_dict(self) -> dict:
        return asdict(self)


def common_grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both maps on the finer of their two grids (each map covers the whole image)."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    return resize_map(a, width, height), resize_map(b, width, height)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps (ties get their mean rank); 0 when either map is constant."""
    from scipy.stats import rankdata

    a, b = common_grid(np.asarray(a, np.float64), np.asarray(b, np.float64))
    ranks_a, ranks_b = rankdata(a.ravel()), rankdata(b.ravel())
    ranks_a -= ranks_a.mean()
    ranks_b -= ranks_b.mean()
    norm = np.sqrt((ranks_a**2).sum() * (ranks_b**2).sum())
    return float((ranks_a * ranks_b).sum() / norm) if norm > 0 else 0.0


def top_region(raw: np.ndarray, percent: float) -> np.ndarray:
    """Boolean mask of the `percent`% highest values (the strongest evidence for the class); exactly that many
    pixels, ties broken by position, so a constant map gives a region too."""
    flat = np.asarray(raw, np.float64).ravel()
    count = int(np.clip(round(flat.size * percent / 100.0), 1, flat.size))
    mask = np.zeros(flat.size, bool)
    mask[np.argsort(-flat, kind="stable")[:count]] = True
    return mask.reshape(raw.shape)


def top_iou(a: np.ndarray, b: np.ndarray, percent: float = 10.0) -> float:
    """Intersection over union of the two maps' top-`percent`% regions."""
    a, b = common_grid(a, b)
    region_a, region_b = top_region(a, percent), top_region(b, percent)
    return float((region_a & region_b).sum() / (region_a | region_b).sum())


def agreement(
    map_a,
    map_b,
    box_a,
    box_b,
    label_a: str,
    label_b: str,
    percent: float = 10.0,
    *,
    explained: tuple[str, str] = ("", ""),
    classes: ClassSets | None = None,
) -> Agreement:
    """Every score for one pair of explanations of one image: `label_a`, `label_b` are the predictions,
    `explained` the classes the two maps explain, `classes` the models' class sets (None: the same)."""
    map_a, map_b = common_grid(np.asarray(map_a, np.float32), np.asarray(map_b, np.float32))  # resampled once
    comparable = classes is None or classes.comparable(label_a, label_b)
    return Agreement(
        rank_correlation=rank_correlation(map_a, map_b),
        top_iou=top_iou(map_a, map_b, percent),
        box_iou=iou(box_a, box_b),
        same_prediction=True if label_a == label_b else (False if comparable else None),
        top_percent=percent,
        explained_a=explained[0],
        explained_b=explained[1],
    )


def mean_agreement(rows: list[Agreement]) -> dict:
    """Means over images; same_prediction becomes the share of comparable images where the models agree (None
    when no image is comparable), and different_classes counts the images whose maps explain different classes."""
    if not rows:
        return {}
    comparable = [r.same_prediction for r in rows if r.same_prediction is not None]
    return {
        "rank_correlation": float(np.mean([r.rank_correlation for r in rows])),
        "top_iou": float(np.mean([r.top_iou for r in rows])),
        "box_iou": float(np.mean([r.box_iou for r in rows])),
        "same_prediction": float(np.mean(comparable)) if comparable else None,
        "top_percent": rows[0].top_percent,
        "different_classes": sum(not r.same_class for r in rows),
    }


def agreeing_share(share: float | None) -> str:
    """The share of comparable images where the predictions agree, in words: '60% agree' or 'not comparable'."""
    return "not comparable" if share is None else f"{share:.0%} agree"


def _some(labels: tuple[str, ...], shown: int = 4) -> str:
    """The first few class names, and how many more."""
    more = len(labels) - shown
    return ", ".join(labels[:shown]) + (f" and {more} more" if more > 0 else "")
