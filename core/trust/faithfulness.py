"""Is the map true to the model? Deletion and insertion (Petsiuk et al. 2018, RISE): the image's pixels are
removed (replaced by a substrate) or restored to it in the order of the map, strongest first, in `steps`
equal steps, and the target's probability is read after each. A faithful map makes the deletion curve fall
fast (a small area under it) and the insertion curve rise fast (a large area). Each map's areas are shown
beside those of random maps (the mean over a few seeds) and of a centred Gaussian blob, and of any other
map given as a reference (the other model's, in a comparison): docs/methods.md, "Deletion and insertion".

The substrate is applied to the model-sized 0..255 pixels, before the model's preprocessing. The original
image and the full substrate are the two ends of every curve, so they run once for all the maps of an
image; every other step of every map goes through the model in batches (`LoadedModel.batch` caps them).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.scoring import LoadedModel
from core.trust.common import REFERENCE_SEEDS, Progress, StopCheck, as_map, centre_blob, check_stop, random_maps

SUBSTRATES = ("blur", "black", "mean")
SUBSTRATE_WORDS = {
    "blur": "a heavy blur of the image",
    "black": "black",
    "mean": "the image's mean colour",
}
DEFAULT_STEPS = 20
# Pixels of equal value are taken in an order drawn from this seed, not in reading order: a map with large flat
# regions (Grad-CAM's zeros) would otherwise delete the top rows first.
_TIE_SEED = 12345


@dataclass(frozen=True)
class Faithfulness:
    """One map's deletion and insertion curves: the target's probability after each of `steps` steps (steps + 1
    values; the first is the image, resp. the substrate), and their areas over the share of pixels changed."""

    deletion: np.ndarray
    insertion: np.ndarray
    fractions: np.ndarray  # share of the pixels removed (deletion) or restored (insertion) at each point
    substrate: str
    seeds: int = 1  # for the random reference: how many random maps the curves are the mean of

    @property
    def steps(self) -> int:
        return len(self.fractions) - 1

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve, 0..1: lower is better (the score falls as soon as the map's pixels go)."""
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve, 0..1: higher is better (the map's pixels alone bring the score back)."""
        return float(np.trapezoid(self.insertion, self.fractions))

    def as_json(self, curves: bool = False) -> dict:
        shown = {"deletion_auc": round(self.deletion_auc, 4), "insertion_auc": round(self.insertion_auc, 4)}
        if curves:
            shown["deletion"] = [round(float(p), 4) for p in self.deletion]
            shown["insertion"] = [round(float(p), 4) for p in self.insertion]
        return shown


@dataclass(frozen=True)
class FaithfulnessReport:
    """A map's faithfulness beside its references' ("random": the mean over random maps, "centre": a centred
    blob, then any given by name)."""

    map: Faithfulness
    references: dict[str, Faithfulness] = field(default_factory=dict)
    target: int = 0
    passes: int = 0  # model passes spent

    def as_json(self) -> dict:
        return {
            **self.map.as_json(),
            "substrate": self.map.substrate,
            "steps": self.map.steps,
            "deletion": self.map.as_json(curves=True)["deletion"],
            "insertion": self.map.as_json(curves=True)["insertion"],
            "reference": {name: reference.as_json() for name, reference in self.references.items()},
        }


def check_options(steps: int, substrate: str) -> None:
    """ValueError with one sentence for steps or a substrate that cannot be used."""
    if substrate not in SUBSTRATES:
        raise ValueError(f"The substrate must be one of {', '.join(SUBSTRATES)}, not '{substrate}'.")
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"Deletion and insertion need a whole number of steps of at least 1, not {steps}.")


def substrate_of(pixels: np.ndarray, substrate: str) -> np.ndarray:
    """What replaces removed pixels, (H, W, C) float32 in 0..255: a heavy blur of the image (the blurred baseline of
    Integrated Gradients: a Gaussian of sigma a tenth of the longer side), black, or the image's mean colour."""
    check_options(1, substrate)
    pixels = np.asarray(pixels, np.float32)
    if substrate == "black":
        return np.zeros_like(pixels)
    if substrate == "mean":
        return np.broadcast_to(pixels.mean(axis=(0, 1), keepdims=True), pixels.shape).astype(np.float32)
    from core.explain.saliency import baseline_of

    return baseline_of(pixels[None], "blur")[0]


def deletion_insertion_passes(maps: int, steps: int = DEFAULT_STEPS) -> int:
    """Model passes (forward, one image each) for the curves of `maps` maps of one image: the image and the
    substrate once, and steps − 1 inner points per curve."""
    return 2 + 2 * maps * (steps - 1)


def report_passes(references: int = 0, steps: int = DEFAULT_STEPS, seeds: int = len(REFERENCE_SEEDS)) -> int:
    """Model passes of `faithfulness_report` for one image: the map, `seeds` random maps, the centred blob and
    `references` more maps."""
    return deletion_insertion_passes(1 + seeds + 1 + references, steps)


def pixel_ranks(raw: np.ndarray) -> np.ndarray:
    """(H, W) int: each pixel's place in the order of the map, 0 for the highest value; ties in a fixed random order."""
    values = np.asarray(raw, np.float64).ravel()
    tie_break = np.random.default_rng(_TIE_SEED).permutation(values.size)
    order = np.lexsort((tie_break, -values))
    ranks = np.empty(values.size, np.int64)
    ranks[order] = np.arange(values.size)
    return ranks.reshape(np.shape(raw))


def _step_counts(pixels: int, steps: int) -> np.ndarray:
    return np.round(np.arange(steps + 1) * pixels / steps).astype(np.int64)


def deletion_insertion(
    model: LoadedModel,
    pixels: np.ndarray,
    target: int,
    maps: Mapping[str, np.ndarray],
    *,
    steps: int = DEFAULT_STEPS,
    substrate: str = "blur",
    batch_size: int = 32,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> dict[str, Faithfulness]:
    """Deletion and insertion curves of each map (any grid; resized to the pixels') for one image: `pixels` are
    model-sized (H, W, C) 0..255 (`spec.resize`), `target` the class index. Costs
    `deletion_insertion_passes(len(maps), steps)` forward passes, in batches; `progress(done, total)` after each
    and `should_stop()` before each (core.trust.Stopped when it says stop)."""
    check_options(steps, substrate)
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim != 3:
        raise ValueError(f"Deletion and insertion take one model-sized image (H, W, C), not shape {pixels.shape}.")
    height, width = pixels.shape[:2]
    names = list(maps)
    ranks = [pixel_ranks(as_map(maps[name], height, width, f"The map '{name}'")) for name in names]
    background = substrate_of(pixels, substrate)
    counts = _step_counts(height * width, steps)
    inner = counts[1:-1]
    # Every image to run, as (which map, how many of its strongest pixels are taken, insertion or deletion): the
    # image (nothing deleted) and the substrate (nothing inserted) first, the ends of every curve, then each map's
    # inner steps.
    jobs = [(0, 0, False), (0, 0, True)] + [
        (number, count, inserting) for number in range(len(names)) for inserting in (False, True) for count in inner
    ]
    total = deletion_insertion_passes(len(names), steps)
    probabilities = np.empty(total, np.float64)
    stack = np.stack(ranks).astype(np.int32) if ranks else np.zeros((1, height, width), np.int32)
    size = model.batch(batch_size)

    def build(start: int) -> np.ndarray:
        which, taken, inserting = (np.array(column) for column in zip(*jobs[start : start + size], strict=True))
        selected = stack[which] < taken[:, None, None].astype(np.int32)
        # Deletion shows the image where the map's strongest pixels are not yet taken; insertion only where they are.
        shows_image = selected == inserting[:, None, None]
        return np.where(shows_image[..., None], pixels, background)

    # The next batch is built in a second thread while the model runs this one (both release the GIL), so building
    # the images costs next to nothing beside the passes.
    with ThreadPoolExecutor(1, thread_name_prefix="deletion-insertion") as builder:
        upcoming = builder.submit(build, 0)
        for start in range(0, total, size):
            batch = upcoming.result()
            check_stop(should_stop, start, total, "Deletion and insertion")
            if start + size < total:
                upcoming = builder.submit(build, start + size)
            probabilities[start : start + len(batch)] = model.probabilities(batch, batch_size=len(batch))[:, target]
            if progress is not None:
                progress(start + len(batch), total)
    original, empty = probabilities[:2]
    curves = probabilities[2:].reshape(len(names), 2, steps - 1)
    fractions = counts / (height * width)
    return {
        name: Faithfulness(
            np.concatenate([[original], curves[i, 0], [empty]]),
            np.concatenate([[empty], curves[i, 1], [original]]),
            fractions,
            substrate,
        )
        for i, name in enumerate(names)
    }


def faithfulness_report(
    model: LoadedModel,
    pixels: np.ndarray,
    target: int,
    raw: np.ndarray,
    *,
    references: Mapping[str, np.ndarray] | None = None,
    seeds: tuple[int, ...] = REFERENCE_SEEDS,
    steps: int = DEFAULT_STEPS,
    substrate: str = "blur",
    batch_size: int = 32,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> FaithfulnessReport:
    """The map's deletion and insertion beside random maps' (their mean over `seeds`), a centred blob's and those
    of `references` (e.g. {"other model": map}), all in one batched run of `report_passes(len(references), steps,
    len(seeds))` forward passes."""
    height, width = np.shape(pixels)[:2]
    references = dict(references or {})
    clash = {"map", "centre"} & set(references) or {name for name in references if name.startswith("random")}
    if clash:
        raise ValueError(f"The reference name '{sorted(clash)[0]}' is taken; name the reference map otherwise.")
    noise = random_maps(height, width, seeds)
    maps = {
        "map": raw,
        **{f"random {seed}": noise[i] for i, seed in enumerate(seeds)},
        "centre": centre_blob(height, width),
        **references,
    }
    curves = deletion_insertion(
        model,
        pixels,
        target,
        maps,
        steps=steps,
        substrate=substrate,
        batch_size=batch_size,
        progress=progress,
        should_stop=should_stop,
    )
    randoms = [curves[f"random {seed}"] for seed in seeds]
    found = {
        "random": Faithfulness(
            np.mean([r.deletion for r in randoms], axis=0),
            np.mean([r.insertion for r in randoms], axis=0),
            randoms[0].fractions,
            substrate,
            len(seeds),
        ),
        "centre": curves["centre"],
        **{name: curves[name] for name in references},
    }
    return FaithfulnessReport(curves["map"], found, int(target), deletion_insertion_passes(len(maps), steps))
