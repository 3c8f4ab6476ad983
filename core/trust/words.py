"""The trust checks in plain words: one sentence per number, saying whether it beats its reference ("better than
chance"). Shared by the dashboard, the report and the evaluation page; docs/methods.md, "Can a map be trusted?",
gives the detail behind each sentence."""

from __future__ import annotations

import math

from core.trust.faithfulness import SUBSTRATE_WORDS, FaithfulnessReport
from core.trust.localisation import LocalisationReport

# Differences of AUC or of a share smaller than this are read as a tie: a map that is this close to a random one
# is not called better than chance.
MARGIN = 0.02

REFERENCE_TITLES = {"random": "random map", "centre": "centred blob", "uniform": "uniform map"}


def reference_title(name: str) -> str:
    """'random' -> 'random map'; any other reference (e.g. the other model's name) is its own title."""
    return REFERENCE_TITLES.get(name, name)


# The curves of the map and of its references, in this order (the map in the pages' highlight colour; the references
# in greys and blues), and what each substrate is called on a chart's axis.
CURVE_COLOURS = ("#e4572e", "#9aa5b1", "#4c78a8", "#72b7b2")
SUBSTRATE_SHORT = {"blur": "blurred", "black": "black", "mean": "mean colour"}


def curve_axis_title(substrate: str) -> str:
    return f"pixels removed (solid) or restored (dashed); removed: {SUBSTRATE_SHORT.get(substrate, substrate)}"


def number(value: float | None, digits: int = 3) -> str:
    """A score to `digits` decimals; a dash for one that does not exist (None or NaN)."""
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def hit_word(value: float) -> str:
    return "hit" if value >= 1 else "miss"


def faithfulness_rows(report: FaithfulnessReport) -> list[list[str]]:
    """The deletion and insertion table as text: a heading row ("", "this map", each reference's title), then the
    deletion AUC and the insertion AUC of the map and of each reference."""
    return [
        _heading(report),
        _row(report, "Deletion AUC ↓", "deletion_auc"),
        _row(report, "Insertion AUC ↑", "insertion_auc"),
    ]


def localisation_rows(report: LocalisationReport) -> list[list[str]]:
    """The localisation table as text: a heading row, then the pointing game (a hit or a miss; for the random maps
    their share of hits, for a uniform map the chance of a hit), the energy in the box and the fitted box's IoU of the
    map and of each reference."""

    def pointing(name: str) -> str:
        share = report.references[name].pointing_hit
        return f"{share:.0%} {'chance' if name == 'uniform' else 'hits'}" if name != "centre" else hit_word(share)

    return [
        _heading(report),
        ["Pointing game", hit_word(report.map.pointing_hit), *(pointing(name) for name in report.references)],
        _row(report, "Energy in the box", "energy_in_box"),
        _row(report, "Box IoU", "box_iou"),
    ]


def _heading(report) -> list[str]:
    return ["", "this map", *(reference_title(name) for name in report.references)]


def _row(report, title: str, score: str) -> list[str]:
    """`title`, then the map's `score` and each reference's."""
    return [title, *(number(getattr(found, score)) for found in (report.map, *report.references.values()))]


def parts_rows(report: LocalisationReport) -> list[list[str]]:
    """The share of the map's positive weight on each part beside the part's share of the image (what a uniform map
    puts there), as text with a heading row; empty without parts."""
    areas = report.references["uniform"].parts
    rows = [
        [part, f"{share:.0%}", f"{areas.get(part, 0.0):.0%}"] for part, share in report.map.parts.items() if _is(share)
    ]
    return [["part", "this map", "its area (uniform map)"], *rows] if rows else []


def _is(value: float) -> bool:
    return value is not None and not math.isnan(value)


def deletion_sentence(report: FaithfulnessReport, label: str) -> str:
    """Is the deletion AUC lower (better) than the random maps'?"""
    mine, chance = report.map.deletion_auc, report.references["random"].deletion_auc
    numbers = f"deletion AUC {mine:.3f} against {chance:.3f}; lower is better"
    if mine < chance - MARGIN:
        return (
            f"Removing the pixels this map ranks first lowers the probability of “{label}” faster than removing "
            f"random pixels ({numbers}): better than chance."
        )
    return (
        f"Removing the pixels this map ranks first lowers the probability of “{label}” no faster than removing "
        f"random pixels ({numbers}): no better than chance."
    )


def insertion_sentence(report: FaithfulnessReport, label: str) -> str:
    """Is the insertion AUC higher (better) than the random maps'?"""
    mine, chance = report.map.insertion_auc, report.references["random"].insertion_auc
    numbers = f"insertion AUC {mine:.3f} against {chance:.3f}; higher is better"
    if mine > chance + MARGIN:
        return (
            f"Restoring only the pixels this map ranks first brings “{label}” back faster than restoring random "
            f"pixels ({numbers}): better than chance."
        )
    return (
        f"Restoring only the pixels this map ranks first brings “{label}” back no faster than restoring random "
        f"pixels ({numbers}): no better than chance."
    )


def centre_sentence(report: FaithfulnessReport) -> str | None:
    """A sentence when a plain blob in the middle does at least as well as the map on both curves, else None."""
    centre = report.references.get("centre")
    if centre is None:
        return None
    mine = report.map
    if centre.deletion_auc <= mine.deletion_auc + MARGIN and centre.insertion_auc >= mine.insertion_auc - MARGIN:
        return (
            "A plain blob in the middle of the image does about as well on both curves: the map says little more "
            "than “the object is in the middle”."
        )
    return None


def substrate_sentence(report: FaithfulnessReport) -> str:
    return (
        f"Removed pixels are replaced by {SUBSTRATE_WORDS[report.map.substrate]}, in {report.map.steps} steps; "
        f"the random map's numbers are the mean of {report.references['random'].seeds} random maps."
    )


def pointing_sentence(report: LocalisationReport) -> str:
    chance = report.references["uniform"].pointing_hit
    where = next(iter(report.map.peak), None)
    on = f", on the {where}" if where else ""
    if report.map.pointing_hit and where in ("background", "distractors"):  # inside the box, yet not on the dog
        on = ", though on the background inside it" if where == "background" else ", though on another object in it"
    if report.map.pointing_hit:
        return (
            f"The map's strongest point lies on the object's box (a hit{on}); a point drawn at random would hit "
            f"{chance:.0%} of the time."
        )
    return (
        f"The map's strongest point lies outside the object's box (a miss{on}); a point drawn at random would hit "
        f"{chance:.0%} of the time."
    )


def energy_sentence(report: LocalisationReport) -> str:
    mine, area = report.map.energy_in_box, report.references["uniform"].energy_in_box
    if not _is(mine):
        return "The map has no positive weight, so none of it can lie in the box."
    verdict = "better than chance" if mine > area + MARGIN else "no better than chance"
    return (
        f"{mine:.0%} of the map's positive weight lies in the object's box, which covers {area:.0%} of the image "
        f"(what a uniform map would put there): {verdict}."
    )


def iou_sentence(report: LocalisationReport) -> str:
    mine, whole = report.map.box_iou, report.references["uniform"].box_iou
    verdict = "better than" if mine > whole + MARGIN else "no better than"
    return (
        f"The box fitted to the map overlaps the object's box with IoU {mine:.2f} (1 is a perfect fit); a box fitted "
        f"to a uniform map scores {whole:.2f}, so this is {verdict} chance."
    )


def parts_sentence(report: LocalisationReport) -> str | None:
    """How much of the map's weight is on the dog (and on which part most) against the dog's area, and whether the
    cue (where stamped) holds far more than its area."""
    shares = {name: share for name, share in report.map.parts.items() if _is(share)}
    if not shares:
        return None
    areas = report.references["uniform"].parts
    dog = [name for name in shares if name not in ("cue", "distractors", "background")]
    on_dog, dog_area = sum(shares[name] for name in dog), sum(areas.get(name, 0.0) for name in dog)
    verdict = "better than chance" if on_dog > dog_area + MARGIN else "no better than chance"
    top = max(dog, key=shares.get) if dog else None
    sentence = (
        f"{on_dog:.0%} of the map's positive weight is on the dog, which covers {dog_area:.0%} of the image: {verdict}"
        + (f"; most of it on the {top} ({shares[top]:.0%})." if top else ".")
    )
    if "cue" in shares and shares["cue"] > 3 * areas.get("cue", 0) and shares["cue"] > 0.05:
        sentence += (
            f" The logo holds {shares['cue']:.0%} of it though it covers {areas.get('cue', 0):.0%} of the image: "
            "the model looks at the logo, not only at the dog."
        )
    return sentence
