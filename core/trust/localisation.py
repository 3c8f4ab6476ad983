"""Does the map point at the object? Where the truth is known (generated images, a person's boxes): the
pointing game (Zhang et al. 2016), the energy in the box (the share of the map's positive mass inside it, as
in Score-CAM's energy-based pointing game, Wang et al. 2020), the IoU of the box fitted to the map
(core.boxes) and, on generated images, the share of the mass on each part of the dog, on distractors and on
the background. Every number comes with the same number for a random map, a centred blob and a uniform map
(docs/methods.md, "Localisation").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.boxes import fit_box, iou
from core.errors import UserError
from core.trust.common import REFERENCE_SEEDS, as_map, centre_blob, random_maps

# The pointing game's tolerance: 15 pixels on a 224-pixel image, scaled with the image's side.
POINTING_TOLERANCE_AT_224 = 15.0


@dataclass(frozen=True)
class Truth:
    """Where the object is, on an image of `size` (height, width): its box [x0, y0, x1, y1) in that image's
    pixels and, for generated images, the part mask (core.dataset.PARTS indices) and distractor mask."""

    box: tuple[float, float, float, float]
    size: tuple[int, int]
    parts: np.ndarray | None = None
    distractors: np.ndarray | None = None
    part_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box)
        height, width = self.size
        if not (x0 < x1 and y0 < y1 and x1 > 0 and y1 > 0 and x0 < width and y0 < height):
            raise UserError(
                f"The box {list(self.box)} is not a box inside a {width}×{height} image; give [x0, y0, x1, y1] with "
                "x0 < x1 and y0 < y1, in the image's pixels."
            )
        for mask in (self.parts, self.distractors):
            if mask is not None and mask.shape != tuple(self.size):
                raise UserError(f"A mask of shape {mask.shape} does not fit a {width}×{height} image.")

    @classmethod
    def of_generated(cls, dog) -> Truth:
        """The truth of a core.dataset.DogImage."""
        from core.dataset import PARTS

        return cls(dog.box, dog.parts.shape, dog.parts, dog.distractors, PARTS)

    def for_image(self, height: int, width: int) -> Truth:
        """The same truth on an image of another size (boxes scaled, masks resized by nearest neighbour)."""
        if (height, width) == tuple(self.size):
            return self
        from PIL import Image

        from core.boxes import scale_box

        def resized(mask):
            return None if mask is None else np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))

        return replace(
            self,
            box=scale_box(self.box, width, height, self.size[1], self.size[0]),
            size=(height, width),
            parts=resized(self.parts),
            distractors=None if self.distractors is None else resized(self.distractors.astype(np.uint8)) > 0,
        )


@dataclass(frozen=True)
class Localisation:
    """One map's localisation scores. For a reference drawn at random, each is the mean over its draws (so
    `pointing_hit` is then a share of hits)."""

    pointing_hit: float  # 1.0: the map's maximum is in the box (within the tolerance); 0.0: it is not
    energy_in_box: float  # share of the map's positive mass inside the box; NaN for a map without positive mass
    box_iou: float  # IoU of the box fitted to the map's mass with the true box
    parts: dict[str, float] = field(default_factory=dict)  # share of the positive mass per part (generated images)
    # Where the map's maximum lies: a part's name, "distractors" or "background"; for a reference drawn at random,
    # the share of its draws per place. Empty without a part mask or for a constant map.
    peak: dict[str, float] = field(default_factory=dict)

    def as_json(self, share: bool = False) -> dict:
        """As JSON; `pointing_hit` true or false for one map, a share of hits (`share`) for a reference."""
        shown = {
            "pointing_hit": _rounded(self.pointing_hit) if share else bool(self.pointing_hit),
            "energy_in_box": _rounded(self.energy_in_box),
            "box_iou": _rounded(self.box_iou),
        }
        if self.parts:
            shown["parts"] = {name: _rounded(share) for name, share in self.parts.items()}
        if self.peak:
            shown["peak"] = next(iter(self.peak)) if not share else {k: _rounded(v) for k, v in self.peak.items()}
        return shown


@dataclass(frozen=True)
class LocalisationReport:
    """A map's localisation beside the same scores for references: `random` (mean over random maps), `centre` (a
    centred Gaussian blob), and what a uniform map scores (`uniform`: the energy in the box is the box's area
    fraction, the pointing hit the chance that a random pixel lies within the tolerance, the parts their areas)."""

    map: Localisation
    references: dict[str, Localisation]
    tolerance: float  # the pointing game's tolerance in pixels of the truth's image

    def as_json(self) -> dict:
        return {
            **self.map.as_json(),
            "pointing_tolerance": round(self.tolerance, 2),
            "reference": {name: reference.as_json(share=True) for name, reference in self.references.items()},
        }


def pointing_tolerance(height: int, width: int) -> float:
    """15 pixels at 224×224, scaled with the image's side (the geometric mean of its two sides)."""
    return POINTING_TOLERANCE_AT_224 * math.sqrt(height * width) / 224.0


def _box_coverage(box, height: int, width: int) -> np.ndarray:
    """(H, W) share of each pixel [x, x + 1) × [y, y + 1) covered by the box: 1 inside, fractions on its edges."""
    x0, y0, x1, y1 = (float(v) for v in box)
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    cover_x = np.clip(np.minimum(x1, xs + 1) - np.maximum(x0, xs), 0, 1)
    cover_y = np.clip(np.minimum(y1, ys + 1) - np.maximum(y0, ys), 0, 1)
    return cover_y[:, None] * cover_x[None, :]


def box_area_fraction(box, height: int, width: int) -> float:
    """The share of the image the box covers: what a uniform map scores as energy in the box."""
    return float(_box_coverage(box, height, width).sum() / (height * width))


def energy_in_box(raw: np.ndarray, box) -> float:
    """Share of the map's positive mass inside the box [x0, y0, x1, y1) (map pixels; partly covered pixels count
    in part); NaN when the map has no positive mass. A uniform map scores the box's area fraction."""
    mass = np.clip(np.asarray(raw, np.float64), 0, None)
    total = mass.sum()
    if total <= 0:
        return math.nan
    return float((mass * _box_coverage(box, *mass.shape)).sum() / total)


def _distance_to_box(x: float, y: float, box) -> float:
    x0, y0, x1, y1 = box
    return math.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1))


def peak_of(raw: np.ndarray) -> tuple[float, float] | None:
    """Where the map's maximum is, (x, y) in pixels: its pixel's centre, or the mean position of the pixels that
    share it; None for a constant map, which points nowhere."""
    values = np.asarray(raw, np.float64)
    peak = values.max()
    if peak == values.min():
        return None
    ys, xs = np.nonzero(values == peak)
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


def pointing_hit(raw: np.ndarray, box, tolerance: float = 0.0) -> bool:
    """Whether the map's maximum (`peak_of`) lies in the box or within `tolerance` pixels of it. A constant map
    points nowhere and misses."""
    peak = peak_of(raw)
    return peak is not None and _distance_to_box(*peak, box) <= tolerance


def peak_part(raw: np.ndarray, truth: Truth) -> str | None:
    """The part under the map's maximum (a part's name, "distractors" or "background"); None without a part mask
    or for a constant map."""
    peak = peak_of(raw)
    if truth.parts is None or peak is None:
        return None
    x, y = min(int(peak[0]), truth.parts.shape[1] - 1), min(int(peak[1]), truth.parts.shape[0] - 1)
    index = int(truth.parts[y, x])
    if index:
        names = truth.part_names
        return names[index] if index < len(names) else f"part {index}"
    return "distractors" if truth.distractors is not None and truth.distractors[y, x] else "background"


def pointing_chance(box, height: int, width: int, tolerance: float) -> float:
    """The chance that a map whose maximum falls on a random pixel scores a hit: the share of pixel centres
    within `tolerance` of the box."""
    ys, xs = np.arange(height)[:, None] + 0.5, np.arange(width)[None, :] + 0.5
    x0, y0, x1, y1 = box
    dx = np.maximum(np.maximum(x0 - xs, 0.0), xs - x1)
    dy = np.maximum(np.maximum(y0 - ys, 0.0), ys - y1)
    return float((np.hypot(dx, dy) <= tolerance).mean())


def part_shares(raw: np.ndarray, truth: Truth) -> dict[str, float]:
    """Share of the map's positive mass on each part of the dog (and the cue, where stamped), on distractor objects
    and on the background; they add up to 1. Empty without a part mask; NaN each for a map without positive mass."""
    if truth.parts is None:
        return {}
    mass = np.clip(np.asarray(raw, np.float64), 0, None)
    total = mass.sum()
    names = truth.part_names or tuple(f"part {i}" for i in range(int(truth.parts.max()) + 1))
    distractors = np.zeros(mass.shape, bool) if truth.distractors is None else truth.distractors & (truth.parts == 0)
    shares = {}
    for index in range(1, len(names)):
        if names[index] == "cue" and not (truth.parts == index).any():
            continue  # no cue on this image: say nothing rather than 0
        shares[names[index]] = (mass * (truth.parts == index)).sum()
    shares["distractors"] = (mass * distractors).sum()
    shares["background"] = (mass * ((truth.parts == 0) & ~distractors)).sum()
    return {name: float(value / total) if total > 0 else math.nan for name, value in shares.items()}


def localisation(raw: np.ndarray, truth: Truth, *, tol: float = 0.9) -> Localisation:
    """The localisation scores of one map (any grid; resized to the truth's image), with the box fit's `tol`."""
    height, width = truth.size
    grid = as_map(raw, height, width)
    box = tuple(float(v) for v in truth.box)
    where = peak_part(grid, truth)
    return Localisation(
        float(pointing_hit(grid, box, pointing_tolerance(height, width))),
        energy_in_box(grid, box),
        iou(fit_box(grid, tol).box, box),
        part_shares(grid, truth),
        {} if where is None else {where: 1.0},
    )


def localisation_report(
    raw: np.ndarray, truth: Truth, *, tol: float = 0.9, seeds: tuple[int, ...] = REFERENCE_SEEDS
) -> LocalisationReport:
    """A map's localisation beside a random map's (mean over `seeds`), a centred blob's and a uniform map's."""
    height, width = truth.size
    randoms = [localisation(noise, truth, tol=tol) for noise in random_maps(height, width, seeds)]
    return LocalisationReport(
        localisation(raw, truth, tol=tol),
        {
            "random": _mean(randoms),
            "centre": localisation(centre_blob(height, width), truth, tol=tol),
            "uniform": uniform_reference(truth, tol=tol),
        },
        pointing_tolerance(height, width),
    )


def uniform_reference(truth: Truth, *, tol: float = 0.9) -> Localisation:
    """What a uniform map scores, worked out rather than drawn: the chance that a random pixel points into the box,
    the box's area fraction as its energy, the IoU of the box fitted to a flat map, and each part's area."""
    height, width = truth.size
    box = tuple(float(v) for v in truth.box)
    return Localisation(
        pointing_chance(box, height, width, pointing_tolerance(height, width)),
        box_area_fraction(box, height, width),
        iou(fit_box(np.ones((height, width)), tol).box, box),
        part_shares(np.ones((height, width)), truth),
    )


def _mean(results: list[Localisation]) -> Localisation:
    parts = {name: float(np.mean([r.parts[name] for r in results])) for name in results[0].parts}
    peaks: dict[str, float] = {}
    for result in results:
        for place, share in result.peak.items():
            peaks[place] = peaks.get(place, 0.0) + share / len(results)
    return Localisation(
        float(np.mean([r.pointing_hit for r in results])),
        float(np.mean([r.energy_in_box for r in results])),
        float(np.mean([r.box_iou for r in results])),
        parts,
        peaks,
    )


def _rounded(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


# --- truth files ------------------------------------------------------------------------------------------


def read_truths(path: Path) -> dict[str, TruthEntry]:
    """The truths in an annotations file, by image file name: the `annotations.json` that `python -m core.dataset`
    writes (boxes, part and distractor masks, the image size from its `dataset.json`), or a person's JSON list of
    {"file": "dog.jpg", "box": [x0, y0, x1, y1]} (optionally "size": [height, width], else the image's own).
    Masks named in the file are read relative to it. UserError with one sentence for a file that is not one."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"{path} cannot be read ({error.strerror}); check the path.") from error
    except ValueError as error:
        raise UserError(f"{path} is not JSON ({error}); give an annotations.json.") from error
    if isinstance(entries, dict):
        entries = entries.get("images", entries.get("annotations"))
    if not isinstance(entries, list):
        raise UserError(f'{path} should hold a list of {{"file": …, "box": [x0, y0, x1, y1]}} entries.')
    meta_file = path.parent / "dataset.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    names = tuple(meta.get("parts", ()))
    truths = {}
    for number, entry in enumerate(entries, 1):
        box = entry.get("box") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not _is_box(box):
            raise UserError(f'Entry {number} of {path.name} needs a "file" and a "box" [x0, y0, x1, y1].')
        parts = _read_mask(path.parent, entry.get("parts_file"))
        distractors = _read_mask(path.parent, entry.get("distractors_file"))
        size = entry.get("size") or (parts.shape if parts is not None else None)
        if size is None and "size" in meta:
            size = (meta["size"], meta["size"])
        truths[Path(entry["file"]).name] = TruthEntry(
            tuple(box), None if size is None else tuple(size), parts, distractors, names
        )
    return truths


@dataclass(frozen=True)
class TruthEntry:
    """One entry of an annotations file: a truth whose image size may only be known once the image is read."""

    box: tuple[float, float, float, float]
    size: tuple[int, int] | None
    parts: np.ndarray | None
    distractors: np.ndarray | None
    names: tuple[str, ...]

    def on(self, height: int, width: int) -> Truth:
        """The truth for the image as read (height × width), scaled where the annotation's size differs."""
        size = self.size or (height, width)
        distractors = None if self.distractors is None else self.distractors > 0
        names = self.names if self.parts is not None else ()
        return Truth(tuple(self.box), tuple(size), self.parts, distractors, names).for_image(height, width)


def _is_box(box) -> bool:
    return isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)


def _read_mask(folder: Path, name) -> np.ndarray | None:
    if not isinstance(name, str):
        return None
    from PIL import Image

    try:
        with Image.open(folder / name) as image:
            return np.asarray(image.convert("L"))
    except OSError as error:
        raise UserError(f"The mask {name} named in the annotations cannot be read ({error}).") from error
