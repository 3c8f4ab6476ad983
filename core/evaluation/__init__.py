"""Evaluating one or two models on a labelled image set: where each fails, how sure it is, and which to trust.

data.py reads sets and maps their class names onto a model's labels; scoring.py decodes each image once and
scores it once per model (cached by content and model file); metrics.py holds the pure metrics; results.py
reads a scored set as an `Evaluation`; page.py draws it as one self-contained HTML page.
"""

from core.evaluation.data import (
    DataError,
    LabelledImage,
    LabelledSet,
    LabelMapping,
    bundled_set,
    extract_zip,
    map_labels,
    read_set,
)
from core.evaluation.results import Evaluation, ModelEvaluation, evaluate
from core.evaluation.scoring import TTA_MODES, Progress, ScoreCache, ScoredSet, score_set

__all__ = [
    "TTA_MODES",
    "DataError",
    "Evaluation",
    "LabelMapping",
    "LabelledImage",
    "LabelledSet",
    "ModelEvaluation",
    "Progress",
    "ScoreCache",
    "ScoredSet",
    "bundled_set",
    "evaluate",
    "extract_zip",
    "map_labels",
    "read_set",
    "score_set",
]
