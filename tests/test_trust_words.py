"""The trust checks' sentences say "better than chance" only where the number beats its reference by the margin."""

import numpy as np

from core.trust.faithfulness import Faithfulness, FaithfulnessReport
from core.trust.words import MARGIN, centre_sentence, deletion_sentence, insertion_sentence


def _curve(area: float) -> Faithfulness:
    """A flat curve whose area is `area` (both deletion and insertion)."""
    fractions = np.linspace(0, 1, 21)
    return Faithfulness(np.full(21, area), np.full(21, area), fractions, "blur")


def _report(mine: float, random: float, centre: float) -> FaithfulnessReport:
    return FaithfulnessReport(_curve(mine), {"random": _curve(random), "centre": _curve(centre)})


def test_deletion_is_better_than_chance_only_when_lower_than_random_by_more_than_the_margin():
    assert deletion_sentence(_report(0.30, 0.60, 0.9), "dog").endswith(": better than chance.")
    assert "deletion AUC 0.300 against 0.600" in deletion_sentence(_report(0.30, 0.60, 0.9), "dog")
    tie = 0.60 - MARGIN / 2
    assert deletion_sentence(_report(tie, 0.60, 0.9), "dog").endswith(": no better than chance.")
    assert deletion_sentence(_report(0.70, 0.60, 0.9), "dog").endswith(": no better than chance.")


def test_insertion_is_better_than_chance_only_when_higher_than_random_by_more_than_the_margin():
    assert insertion_sentence(_report(0.90, 0.60, 0.1), "dog").endswith(": better than chance.")
    assert insertion_sentence(_report(0.60 + MARGIN / 2, 0.60, 0.1), "dog").endswith(": no better than chance.")


def test_a_blob_that_does_as_well_on_both_curves_is_said_to_and_one_that_does_worse_is_not():
    # Deletion and insertion share the flat curve here, so a blob with the map's own area ties on both.
    assert centre_sentence(_report(0.5, 0.6, 0.5)) is not None
    both_worse = FaithfulnessReport(
        Faithfulness(np.full(21, 0.2), np.full(21, 0.9), np.linspace(0, 1, 21), "blur"),
        {
            "random": _curve(0.6),
            "centre": Faithfulness(np.full(21, 0.5), np.full(21, 0.6), np.linspace(0, 1, 21), "blur"),
        },
    )
    assert centre_sentence(both_worse) is None


def test_the_pointing_sentence_says_where_the_peak_lies_and_a_hit_on_the_background_is_said_as_such():
    from core.trust.localisation import Localisation, LocalisationReport
    from core.trust.words import pointing_sentence

    def said(hit: float, peak: str) -> str:
        uniform = Localisation(0.25, 0.25, 0.0)
        return pointing_sentence(
            LocalisationReport(Localisation(hit, 0.5, 0.5, peak={peak: 1.0}), {"uniform": uniform}, 8)
        )

    assert said(1.0, "head").startswith("The map's strongest point lies on the object's box (a hit, on the head)")
    assert "(a hit, though on the background inside it)" in said(1.0, "background")
    assert "(a hit, though on another object in it)" in said(1.0, "distractors")
    assert "(a miss, on the background)" in said(0.0, "background") and "25% of the time" in said(0.0, "background")
