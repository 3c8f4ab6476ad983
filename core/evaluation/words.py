"""Every number of an evaluation with what it is compared against and one plain sentence on how to read it:
the same words on the dashboard's page and in the HTML report (docs/methods.md, "Evaluating a model", has the
longer story)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.evaluation import metrics
from core.evaluation.results import Evaluation, ModelEvaluation

# McNemar's p below this is called a real difference: the usual 5 % level.
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Reading:
    """A number as shown: its name, the value in words, what it is compared against, and how to read it."""

    name: str
    value: str
    reference: str
    sentence: str


def percent(value: float, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}{'' if number == 1 else 's'}"


def accuracy(m: ModelEvaluation) -> Reading:
    low, high = m.accuracy_interval
    right = int(m.correct.sum())
    return Reading(
        "Accuracy",
        percent(m.accuracy),
        f"95% interval {percent(low)}–{percent(high)}; always answering the commonest class scores "
        f"{percent(m.majority_rate)}",
        f"{m.model} names the given class for {right:,} of {m.images:,} images. The interval is where its accuracy on "
        "more images like these would most likely fall (Wilson); a model is only useful above the commonest-class "
        "rate.",
    )


def calibration(m: ModelEvaluation) -> Reading:
    r = m.reliability
    return Reading(
        "Expected calibration error (ECE)",
        percent(r.ece),
        f"0% for a perfectly calibrated model; largest gap in one bin (MCE) {percent(r.mce)}",
        f"On average, {m.model}'s stated confidence is {percent(r.ece)} away from how often it is right at that "
        "confidence (top class, 15 equal bins). Bars below the diagonal mean it is surer than it should be.",
    )


def ranking(m: ModelEvaluation) -> Reading:
    c = m.coverage
    return Reading(
        "Area under the risk–coverage curve (AURC)",
        f"{c.aurc:.4f}",
        f"best possible at this accuracy {c.best_aurc:.4f}; a ranking that knows nothing {c.random_aurc:.4f}",
        "How well confidence sorts right answers before wrong ones: the mean error rate of the answers kept as the "
        "threshold falls. Lower is better; near the best means withholding the least confident answers removes "
        "mistakes first.",
    )


def withholding(m: ModelEvaluation, threshold: float) -> Reading:
    s = metrics.withhold_below(m.confidence, m.correct, threshold)
    return Reading(
        f"Answers at a confidence of {percent(threshold, 0)} or more",
        f"{percent(s.coverage)} kept, {percent(s.accuracy)} right",
        f"{s.withheld:,} withheld; {percent(m.accuracy)} right when every answer is kept",
        f"Withholding {m.model}'s answers below {percent(threshold, 0)} confidence keeps {s.kept:,} of {m.images:,} "
        f"images; of those, {percent(s.accuracy)} are right.",
    )


def target(m: ModelEvaluation, wanted: float) -> Reading:
    threshold = metrics.threshold_for_accuracy(m.coverage, wanted)
    if threshold is None:
        return Reading(
            f"Threshold for {percent(wanted, 0)} accuracy",
            "none reaches it",
            f"best: {percent(float(m.coverage.accuracy.max()))} on the most confident answers",
            f"No confidence threshold makes {m.model} {percent(wanted, 0)} right on the answers it keeps.",
        )
    s = metrics.withhold_below(m.confidence, m.correct, threshold)
    return Reading(
        f"Threshold for {percent(wanted, 0)} accuracy",
        percent(threshold, 2),
        f"keeps {percent(s.coverage)} of the images",
        f"The smallest confidence at which {m.model}'s kept answers are at least {percent(wanted, 0)} right: it "
        f"answers {s.kept:,} of {m.images:,} images and withholds {s.withheld:,}.",
    )


def tta(m: ModelEvaluation) -> Reading | None:
    t = m.tta_summary
    if t is None:
        return None
    views = "the image and its mirror" if t.mode == "flip" else "the image, its mirror and four small shifts"
    return Reading(
        "Test-time augmentation",
        f"{percent(t.accuracy_with)} with, {percent(t.accuracy)} without",
        f"prediction changes on {t.changed:,} of {t.images:,} images ({t.fixed} fixed, {t.broken} broken)",
        f"Averaging {m.model}'s probabilities over {views} "
        + (
            "changes no prediction."
            if not t.changed
            else f"{'helps' if t.fixed > t.broken else 'hurts' if t.broken > t.fixed else 'neither helps nor hurts'}: "
            f"it turns {_count(t.fixed, 'wrong answer')} right and {_count(t.broken, 'right answer')} wrong."
        ),
    )


def comparison(e: Evaluation) -> Reading | None:
    """Which of two models to trust, with McNemar's exact test of the images only one gets right."""
    table = e.agreement
    if table is None:
        return None
    a, b = e.names
    p = table.mcnemar_p
    ma, mb = e.models
    if table.only_a == table.only_b:
        verdict = f"{a} and {b} get the same number of images right."
    elif p < SIGNIFICANCE:
        better = a if table.only_a > table.only_b else b
        verdict = f"{better} is right more often, and a difference this large is unlikely to be chance."
    else:
        ahead = a if table.only_a > table.only_b else b
        verdict = f"{ahead} is right a little more often, but a difference this small could well be chance here."
    return Reading(
        "Which model to trust",
        f"{a} {percent(ma.accuracy)}, {b} {percent(mb.accuracy)}",
        f"McNemar's exact test p = {p:.3g} on the {table.only_a + table.only_b:,} images only one gets right "
        f"({table.only_a} only {a}, {table.only_b} only {b}); below {SIGNIFICANCE:g} is a real difference",
        verdict,
    )


SUSPECT_NOTE = (
    "On the model's own view only, and only a hint: these are images whose given label the model finds much less "
    "likely than another class, judged against how sure it usually is of each class (confident learning). Look "
    "before relabelling; a model that is simply wrong lands here too."
)
GALLERIES = {
    "confidently_wrong": (
        "Confidently wrong",
        "Wrong answers, surest first: the mistakes a confidence threshold will not catch.",
    ),
    "least_confident": ("Least confident", "The answers the model is least sure of, right or wrong."),
    "most_confident_correct": (
        "Most confident and right",
        "What the model finds easiest: typical pictures of each class.",
    ),
    "suspected_label_errors": ("Suspected label errors", SUSPECT_NOTE),
}
