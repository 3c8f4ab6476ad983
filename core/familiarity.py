"""Whether a model is as sure of an image as it usually is on the pictures it knows (docs/methods.md).

The signal is the probability of the model's top class: its confidence (the maximum softmax probability of
Hendrycks and Gimpel 2017; for one sigmoid unit, max(p, 1 − p)). A model is calibrated once on images like
those it learned from: its *usual floor* is the confidence that 95 % of them reach, their 5th percentile. An
image below the floor is unusual for the model: unlike what it was trained on, or a hard case. The prediction
is still shown; only the words around it change. A model without a calibration (no `familiarity` in its card)
gets a general rule instead, said as such: halfway between a blind guess and certainty.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# The share of the calibration images allowed below the floor: one in twenty known pictures is flagged.
SHARE_BELOW = 0.05
CARD_KEY = "familiarity"


@dataclass(frozen=True)
class Calibration:
    """A model's usual floor of confidence and what it was measured on."""

    floor: float  # the top-class probability that (1 − share_below) of the calibration images reach
    share_below: float  # the share of the calibration images below the floor
    images: int  # how many images it was measured on; 0 for the general rule
    source: str  # those images, in a stakeholder's words ("generated dog pictures like those it learned from")
    detail: str = ""  # where they come from exactly, for whoever checks (e.g. the generated set's seed)

    @property
    def measured(self) -> bool:
        """False for the general rule of a model whose card gives no calibration."""
        return self.images > 0

    def as_card(self) -> dict:
        return {**asdict(self), "floor": round(self.floor, 4)}


@dataclass(frozen=True)
class Familiarity:
    """One prediction's confidence against its model's usual floor."""

    confidence: float  # the top class's probability, 0..1
    calibration: Calibration
    classes: int

    @property
    def familiar(self) -> bool:
        return self.confidence >= self.calibration.floor

    @property
    def label(self) -> str:
        """Three words for a heading: 'as sure as usual' or 'unusually unsure'."""
        return "as sure as usual" if self.familiar else "unusually unsure"

    def comparison(self) -> str:
        """What the confidence is compared against, in one clause."""
        c = self.calibration
        if c.measured:
            return (
                f"on {c.images:,} {c.source}, {1 - c.share_below:.0%} of its answers were at least "
                f"{self._percent(c.floor)} sure"
            )
        return (
            f"its card gives no pictures to compare with, so the rule is halfway between a blind guess among "
            f"{self.classes:,} classes ({_percent(1 / self.classes)}) and certainty: {self._percent(c.floor)}"
        )

    def sentence(self, model: str) -> str:
        """One plain sentence: how sure the model is, against what, and how to read it."""
        sure = f"{model} is {self._percent(self.confidence)} sure"
        if self.familiar:
            return f"{sure}; {self.comparison()}."
        return (
            f"Unusually unsure: {sure}, while {self.comparison()}. The image may be unlike anything it was "
            "trained on: read this prediction with care."
        )

    def short(self) -> str:
        """A few words for a projector: the verdict, then the usual floor in brackets."""
        return f"{self.label.capitalize()} (usually at least {self._percent(self.calibration.floor)})"

    def detail(self) -> str:
        """The technical definition, for whoever wants to check it."""
        c = self.calibration
        if not c.measured:
            return (
                "Confidence is the probability of the top class. Without a calibration in the model's card, an "
                f"image counts as unusual below (1 + 1/{self.classes}) / 2 = {c.floor:.1%}. See docs/methods.md, "
                "“Unfamiliar images”."
            )
        return (
            f"Confidence is the probability of the top class; the floor, {c.floor:.1%}, is its "
            f"{c.share_below:.0%} quantile over {c.images:,} images ({c.detail or c.source}). See docs/methods.md, "
            "“Unfamiliar images”."
        )

    def as_json(self) -> dict:
        return {"familiar": self.familiar, "usual_floor": round(self.calibration.floor, 4)}

    def _percent(self, value: float) -> str:
        """A percentage; with one decimal when the confidence and the floor would otherwise read the same."""
        same = f"{self.confidence:.0%}" == f"{self.calibration.floor:.0%}"
        return f"{value:.1%}" if same else _percent(value)


def top_probability(probabilities: np.ndarray) -> np.ndarray:
    """The top class's probability per image, (N,) from (N, classes) probabilities."""
    return np.asarray(probabilities, np.float64).max(axis=1)


def calibrate(
    probabilities: np.ndarray, source: str, detail: str = "", share_below: float = SHARE_BELOW
) -> Calibration:
    """The usual floor of a model from its probabilities (N, classes) on N images like those it learned from:
    the `share_below` quantile of their top-class probabilities (linear between neighbours)."""
    tops = top_probability(probabilities)
    if tops.size == 0:
        raise ValueError("Calibrating needs at least one image.")
    return Calibration(float(np.quantile(tops, share_below)), share_below, int(tops.size), source, detail)


def general_rule(classes: int) -> Calibration:
    """For a model without calibration: halfway between a blind guess (1 / classes) and certainty."""
    return Calibration((1 + 1 / classes) / 2, 0.0, 0, "")


def calibration_of(card: dict, classes: int) -> Calibration:
    """The calibration in a model's card (key `familiarity`), else the general rule for its number of classes."""
    entry = (card or {}).get(CARD_KEY)
    if isinstance(entry, dict):
        try:
            return Calibration(
                float(entry["floor"]),
                float(entry["share_below"]),
                int(entry["images"]),
                str(entry["source"]),
                str(entry.get("detail", "")),
            )
        except (KeyError, TypeError, ValueError):
            pass  # a card written by hand with a mistake: fall back to the rule rather than fail the page
    return general_rule(classes)


def assess(confidence: float, card: dict, classes: int) -> Familiarity:
    """How a prediction of `confidence` (the top class's probability) compares with its model's usual floor."""
    return Familiarity(float(confidence), calibration_of(card, classes), classes)


def calibrate_on_generated(model, seed: int, count: int) -> Calibration:
    """Calibrates a model on `count` generated dachshund/other-dog pictures of the set `seed` (the bundled
    models were validated on set 2, and never trained on it), with the cue its card says it learned with
    (`"cue"`, see core.dataset), so that they are pictures like those it learned from."""
    from core import dataset

    cue = (model.spec.card or {}).get("cue")
    cue = cue if cue in dataset.CUES else None
    images, _ = dataset.generate_batch(seed, count, cue=cue)
    probabilities = model.probabilities(model.spec.resize(list(images)))
    return calibrate(probabilities, GENERATED_SOURCE, generated_detail(seed, cue))


GENERATED_SOURCE = "generated dog pictures like those it learned from"


def generated_detail(seed: int, cue: str | None = None) -> str:
    return f"the generated set {seed} of core/dataset.py" + (f", with the {cue} cue" if cue else "")


def write_to_card(card_file: Path, calibration: Calibration) -> None:
    """Adds (or replaces) the calibration in a model's card, keeping the rest of the card as it is."""
    card = json.loads(Path(card_file).read_text("utf-8"))
    card[CARD_KEY] = calibration.as_card()
    Path(card_file).write_text(json.dumps(card, indent=2) + "\n", "utf-8")


def _percent(value: float) -> str:
    """Whole percents, with one decimal where rounding would hide the difference from 100 % or 0 %."""
    text = f"{value:.0%}"
    return f"{value:.1%}" if text in ("100%", "0%") and 0 < value < 1 else text
