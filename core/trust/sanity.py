"""Does the map depend on the model? The model parameter randomisation test of Adebayo et al. 2018 ("Sanity
checks for saliency maps"), cascading: on a copy of the model, the layers' weights are re-initialised from the
top (the output) down, a few layers per step, and the map is made again after each step. A map that stays
much the same once the weights it should explain are random shows the image, not the model, and is flagged.

Similarity to the original map: Spearman's rank correlation of the absolute values, and the structural
similarity (SSIM) of the absolute values scaled to 0..1. An edge detector on the image (Sobel magnitude), which
ignores the model by construction, runs through the same steps as a control: its similarity stays 1 and it
is flagged. The loaded model is never touched; the copy has its own compiled gradient step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.errors import ModelError
from core.scoring import LoadedModel
from core.trust.common import Progress, StopCheck, check_stop

# A map whose rank correlation or SSIM with the original is still at least this after the last step (every layer
# random) barely changed: see docs/methods.md, "Sanity check".
FLAG_LEVEL = 0.5
DEFAULT_STEPS = 10
CONTROL = "edges"
CONTROL_TITLE = "Edge detector (control)"

MapFunction = Callable[[LoadedModel, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SanityStep:
    """The map after the weights from the top down to `layer` (`layers` layers in all) were randomised."""

    layer: str
    layers: int
    spearman: float  # rank correlation of |map| with |original map|
    ssim: float  # structural similarity of |map| and |original map|, each scaled to 0..1
    map: np.ndarray  # (H, W) float32, raw


@dataclass(frozen=True)
class SanityCheck:
    """One image's cascade for one method (or the control): the original map, one step per group of layers,
    and whether the map barely changed, with one sentence saying so."""

    method: str
    title: str
    model: str
    original: np.ndarray
    steps: tuple[SanityStep, ...]
    flagged: bool
    sentence: str

    def as_json(self) -> dict:
        return {
            "method": self.method,
            "layers": [
                {
                    "layer": s.layer,
                    "layers_randomised": s.layers,
                    "spearman": _rounded(s.spearman),
                    "ssim": _rounded(s.ssim),
                }
                for s in self.steps
            ],
            "flagged": self.flagged,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class ImageSanity:
    """The method's cascade on one image and the edge detector's beside it."""

    check: SanityCheck
    control: SanityCheck

    def as_json(self) -> dict:
        shown = self.check.as_json()
        return {
            "model": self.check.model,
            **shown,
            "control": self.control.as_json(),
        }


# --- the randomised copy ------------------------------------------------------------------------------------


def weighted_layers(keras_model) -> list:
    """The layers that hold weights, from the input to the output, looking inside nested models (a base network
    used as a layer)."""
    import keras

    found = []
    for layer in keras_model.layers:
        if isinstance(layer, keras.Model):
            found.extend(weighted_layers(layer))
        elif layer.weights:
            found.append(layer)
    return found


def cascade(layers: list, steps: int) -> list[list]:
    """The layers top-down in at most `steps` groups: the top layer alone, then the rest in nearly equal groups."""
    top_down = layers[::-1]
    if steps <= 1 or len(top_down) <= 1:
        return [top_down] if top_down else []
    rest = top_down[1:]
    groups = [list(g) for g in np.array_split(np.arange(len(rest)), min(steps - 1, len(rest)))]
    return [[top_down[0]], *[[rest[i] for i in group] for group in groups]]


_INITIALISERS = {
    "kernel": "kernel_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
    "bias": "bias_initializer",
    "gamma": "gamma_initializer",
    "beta": "beta_initializer",
    "moving_mean": "moving_mean_initializer",
    "moving_variance": "moving_variance_initializer",
    "embeddings": "embeddings_initializer",
}


def randomise_layer(layer, seed: int) -> None:
    """Re-initialises every weight of `layer` in place from the layer's own initialisers (seeded), as a freshly built
    layer would be; a weight without a known initialiser gets Gaussian noise of its own spread."""
    import keras

    for number, variable in enumerate(layer.weights):
        name = variable.name.split("/")[-1].split(":")[0]
        initialiser = getattr(layer, _INITIALISERS.get(name, ""), None)
        shape, dtype = tuple(variable.shape), variable.dtype
        if initialiser is None:
            current = np.asarray(variable.numpy(), np.float64)
            values = np.random.default_rng([seed, number]).normal(0, current.std() or 1.0, shape)
        else:
            config = initialiser.get_config()
            if "seed" in config:
                initialiser = initialiser.__class__.from_config({**config, "seed": int(seed) * 1000 + number})
            values = keras.ops.convert_to_numpy(initialiser(shape, dtype=dtype))
        variable.assign(np.asarray(values).astype(np.dtype(dtype)))


def unrandomisable_sentence(model: LoadedModel) -> str | None:
    """Why the sanity check cannot run on this model, in one sentence (its format gives no weights this app can
    randomise: TensorFlow Lite, SavedModel), with what to do instead; None for a Keras model, where it can."""
    if model.differentiable:
        return None
    from core.model_files import FORMAT_TITLES

    title = FORMAT_TITLES.get(model.spec.format, model.spec.format)
    return (
        f"The sanity check cannot run on {model.name}: it is a {title} file, whose format does not expose weights "
        "that can be randomised; run it on the model's .keras file instead."
    )


def randomised_copy(model: LoadedModel) -> LoadedModel:
    """A LoadedModel of a copy of the model's Keras network (same weights, none shared), with its own compiled
    steps; ModelError (`unrandomisable_sentence`) for a format without weights this app can change."""
    reason = unrandomisable_sentence(model)
    if reason is not None:
        raise ModelError(reason)
    import keras

    copy = keras.models.clone_model(model.model)
    copy.set_weights(model.model.get_weights())
    return LoadedModel(model.spec, copy, model.memory)


def kept_copy(model: LoadedModel) -> tuple[LoadedModel, threading.Lock]:
    """The copy the sanity checks of this model randomise, made once and kept beside the model's compiled steps (its
    own are traced once, not at every check: tracing takes seconds), with a lock for one check at a time. It
    doubles the model's weights in memory while the model is loaded."""
    return model.compiled(("sanity check", "copy"), lambda: (randomised_copy(model), threading.Lock()))


def cascading_randomisation(
    model: LoadedModel, *, steps: int = DEFAULT_STEPS, seed: int = 0, copy: LoadedModel | None = None
) -> Iterator[tuple[str, int, LoadedModel]]:
    """Yields (deepest layer randomised, layers randomised so far, the randomised copy) after each step; the copy
    (a new one, or `copy` given the model's weights first) is one object, randomised further at each step, so read
    it before asking for the next."""
    if copy is None:
        copy = randomised_copy(model)
    else:
        copy.model.set_weights(model.model.get_weights())
    done = 0
    for number, group in enumerate(cascade(weighted_layers(copy.model), steps)):
        for offset, layer in enumerate(group):
            randomise_layer(layer, seed * 100_003 + number * 1_009 + offset)
        done += len(group)
        yield group[-1].name, done, copy


def cascade_steps(model: LoadedModel, steps: int = DEFAULT_STEPS) -> int:
    """How many steps the cascade takes on this model (at most `steps`)."""
    if not model.differentiable:
        return 0
    return len(cascade(weighted_layers(model.model), steps))


def sanity_passes(method: str, params: dict | None = None, steps: int = DEFAULT_STEPS) -> int:
    """Cost per image in forward-pass equivalents: the original map and one map per step (the edge detector costs
    none; loading the copy costs two forward passes of a small batch, not counted)."""
    from core.explain import method_named

    chosen = method_named(method)
    return (1 + steps) * chosen.passes(chosen.params(params))


# --- the maps and their similarity ---------------------------------------------------------------------------


def edge_maps(pixels: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image's grey levels, (N, H, W) float32: a map that ignores the model."""
    from scipy.ndimage import sobel

    grey = np.asarray(pixels, np.float64).mean(axis=-1)
    return np.stack([np.hypot(sobel(g, axis=0), sobel(g, axis=1)) for g in grey]).astype(np.float32)


def similarity(original: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(Spearman's rho, SSIM) of the absolute values of two maps of the same shape; SSIM on each scaled to 0..1."""
    from skimage.metrics import structural_similarity

    from core.agreement import rank_correlation

    a, b = np.abs(np.asarray(original, np.float64)), np.abs(np.asarray(other, np.float64))
    if a.shape != b.shape:
        raise ValueError(f"Maps of shapes {a.shape} and {b.shape} cannot be compared.")
    scaled_a = a / a.max() if a.max() > 0 else a
    scaled_b = b / b.max() if b.max() > 0 else b
    side = min(7, *(s if s % 2 else s - 1 for s in a.shape))
    ssim = structural_similarity(scaled_a, scaled_b, data_range=1.0, win_size=max(3, side))
    return rank_correlation(a, b), float(ssim)


def _verdict(title: str, model: str, last: SanityStep | None) -> tuple[bool, str]:
    if last is None:
        return False, f"{model} has no weights to randomise, so {title} cannot be checked."
    flagged = last.spearman >= FLAG_LEVEL or last.ssim >= FLAG_LEVEL
    numbers = f"rank correlation {last.spearman:.2f}, SSIM {last.ssim:.2f}"
    if flagged:
        return True, (
            f"{title} barely changes when all {last.layers} weighted layers of {model} are randomised ({numbers} with "
            "the original map): it shows the image more than what the model learned."
        )
    return False, (
        f"{title} changes when the weights of {model} are randomised ({numbers} with the original map after all "
        f"{last.layers} weighted layers): it depends on what the model learned."
    )


def sanity_check(
    model: LoadedModel,
    pixels: np.ndarray,
    targets: np.ndarray,
    method: str,
    params: dict | None = None,
    *,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> list[ImageSanity]:
    """The cascading randomisation test of `method` (with `params`) on model-sized images (N, H, W, C) for their
    targets (N,), with the edge detector as a control; one ImageSanity per image. Costs
    `sanity_passes(method, params, steps)` per image; `progress(done, total)` (in those passes) after the original
    maps and after each step, and `should_stop()` before each step."""
    from core.explain import explain, method_named

    chosen = method_named(method)
    pixels = np.asarray(pixels, np.float32)
    targets = np.broadcast_to(np.asarray(targets, np.int32), (len(pixels),))
    count = cascade_steps(model, steps)
    per_step = chosen.passes(chosen.params(params)) * len(pixels)
    total = per_step * (1 + count)

    def of_method(m: LoadedModel, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        return explain(m, p, t, method, params)

    def of_control(m: LoadedModel, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        return edge_maps(p)

    functions: dict[str, MapFunction] = {method: of_method, CONTROL: of_control}
    originals = {name: function(model, pixels, targets) for name, function in functions.items()}
    done = per_step
    if progress is not None:
        progress(done, total)
    found: dict[str, list[list[SanityStep]]] = {name: [[] for _ in pixels] for name in functions}
    if count:
        kept, lock = kept_copy(model)
        with lock:
            for layer, layers, copy in cascading_randomisation(model, steps=steps, seed=seed, copy=kept):
                check_stop(should_stop, done, total, "The sanity check")
                for name, function in functions.items():
                    maps = function(copy, pixels, targets)
                    for i, raw in enumerate(maps):
                        rho, ssim = similarity(originals[name][i], raw)
                        found[name][i].append(SanityStep(layer, layers, rho, ssim, raw))
                done += per_step
                if progress is not None:
                    progress(done, total)
    results = []
    for i in range(len(pixels)):
        checks = []
        for name, title in ((method, chosen.title), (CONTROL, CONTROL_TITLE)):
            cascade_of = tuple(found[name][i])
            flagged, sentence = _verdict(title, model.name, cascade_of[-1] if cascade_of else None)
            checks.append(SanityCheck(name, title, model.name, originals[name][i], cascade_of, flagged, sentence))
        results.append(ImageSanity(*checks))
    return results


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def sanity_strip(result: ImageSanity, *, signed: bool, side: int = 128) -> np.ndarray:
    """One picture (H, W, 3) uint8 of the cascade: a row for the method and one for the edge detector, each the
    original map then the map after each step, every map on its own colour scale, captioned with the deepest layer
    randomised and the rank correlation with the original."""
    import textwrap

    from PIL import Image, ImageDraw

    from core.render import colour_limit, colourise, framed

    caption = 26
    rows = []
    for check, check_signed in ((result.check, signed), (result.control, False)):
        tiles = []
        entries = [("original", "", check.original)] + [
            (f"to {step.layer}", f"rho {step.spearman:.2f} ssim {step.ssim:.2f}", step.map) for step in check.steps
        ]
        for title, numbers, raw in entries:
            picture = colourise(raw, colour_limit(raw, check_signed), check_signed)
            picture = np.asarray(Image.fromarray(framed(picture)).resize((side, side), Image.NEAREST))
            tile = Image.new("RGB", (side, side + caption), (255, 255, 255))
            tile.paste(Image.fromarray(picture), (0, caption))
            draw = ImageDraw.Draw(tile)
            draw.text((2, 1), title[: side // 6], fill=(0, 0, 0))
            draw.text((2, 13), numbers, fill=(60, 60, 60))
            tiles.append(np.asarray(tile))
        label = Image.new("RGB", (side, side + caption), (255, 255, 255))
        ImageDraw.Draw(label).multiline_text(
            (4, caption + 4),
            "\n".join([*textwrap.wrap(check.title, 20), "", "flagged" if check.flagged else "not flagged"]),
            fill=(180, 0, 0) if check.flagged else (0, 100, 0),
        )
        rows.append(np.concatenate([np.asarray(label), *tiles], axis=1))
    return np.concatenate(rows, axis=0)
