"""The one registry of explanation methods, used by the pages, the command line and the tests.

Every method is a pure function `method(model, pixels, targets, **params) -> maps`: pixels are
model-sized (N, H, W, C) float32 in 0..255 (`spec.resize`), targets are class indices (N,), maps
are raw (N, H, W) float32 in the model's input space (signed where the method is signed). Colour,
normalisation and boxes happen in the view.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core import boxes
from core.boxes import BoxFit, fit_box
from core.errors import MethodError
from core.explain import perturbation
from core.explain.gradcam import gradcam, gradcam_plus_plus
from core.explain.perturbation import SEGMENTATIONS, lime, shap_gradient, shap_partition
from core.explain.registry import Family, Method, Parameter
from core.explain.saliency import BASELINES, completeness_error, integrated_gradients, saliency, smoothgrad
from core.memory import guard
from core.progress import Progress, in_background, reporting
from core.scoring import LoadedModel

# lime hands the seed to quickshift, which takes a 32-bit signed integer; the other methods share the limit.
SEED = Parameter(
    "seed", 0, int, help="Seed of the random draws: the same seed gives the same map.", minimum=0, maximum=2**31 - 1
)
LAYER = Parameter(
    "layer",
    None,
    str,
    help="The convolutional layer whose activations are weighted; empty: the model's own (its card's Grad-CAM layer, "
    "else the last layer with a spatial output).",
    unset="the model's default",
)

# Gradient and class activation maps are faintly non-zero nearly everywhere (gradients in a fine grid where the
# model strides, Grad-CAM in broad low-resolution blobs): fade their weak part in the overlay, or it tints the whole
# photo. SHAP's patches and LIME's regions keep the plain rule: their weak regions are weak evidence, drawn faintly.
DENSE_MAP_EXPONENT = 1.5

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "saliency",
            "Gradient saliency",
            saliency,
            Family.GRADIENT,
            signed=False,
            caption="Pixels where a small change would move the class score most.",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try Integrated Gradients, which follows the score all the way from a black image",
        ),
        Method(
            "smoothgrad",
            "SmoothGrad",
            smoothgrad,
            Family.GRADIENT,
            signed=False,
            caption="Saliency averaged over noisy copies of the image: the same reading, less speckle.",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try Integrated Gradients, which follows the score all the way from a black image",
            parameters=(
                Parameter(
                    "samples", 16, int, help="Noisy copies of the image whose saliency maps are averaged.", minimum=1
                ),
                Parameter(
                    "noise",
                    0.15,
                    float,
                    help="Spread (standard deviation) of the noise, as a share of 0–255.",
                    minimum=0.0,
                ),
                SEED,
            ),
            evaluations=lambda p: int(p["samples"]),
        ),
        Method(
            "integrated-gradients",
            "Integrated Gradients",
            integrated_gradients,
            Family.GRADIENT,
            signed=True,
            caption="How much each pixel adds to (+) or takes from (−) the score, compared with a black image.",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try another baseline under Parameters",
            parameters=(
                Parameter(
                    "steps",
                    32,
                    int,
                    help="Points on the path from the baseline to the image where gradients are taken.",
                    minimum=1,
                ),
                Parameter(
                    "baseline",
                    "black",
                    str,
                    help="The image attributions are measured from (blur: the image blurred).",
                    choices=BASELINES,
                ),
            ),
            evaluations=lambda p: int(p["steps"]),
            diagnostics=lambda model, pixels, targets, maps, params: [
                {"completeness_error": float(error)}
                for error in completeness_error(model, pixels, targets, maps, params["baseline"])
            ],
        ),
        Method(
            "gradcam",
            "Grad-CAM",
            gradcam,
            Family.CLASS_ACTIVATION,
            signed=False,
            caption="Regions of the last convolutional layer that raise the class score; coarse but robust.",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try Grad-CAM++, which often finds some",
            parameters=(LAYER,),
        ),
        Method(
            "gradcam++",
            "Grad-CAM++",
            gradcam_plus_plus,
            Family.CLASS_ACTIVATION,
            signed=False,
            caption="Grad-CAM weighted towards every instance of the class, not just the strongest.",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try Integrated Gradients, which looks at the pixels rather than at one layer",
            parameters=(LAYER,),
        ),
        Method(
            "shap",
            "SHAP (partition, blur masker)",
            shap_partition,
            Family.PERTURBATION,
            signed=True,
            caption="Regions whose presence pushes the score towards the class or away from it "
            "(Shapley values of blurred patches).",
            parameters=(
                Parameter("max_evals", 300, int, help="Model passes to spend; more gives smaller patches.", minimum=1),
                Parameter("blur", 16, int, help="Side in pixels of the box blur that hides a patch.", minimum=1),
            ),
            evaluations=lambda p: int(p["max_evals"]),
            when_blank="try more evaluations under Parameters",
            shap=True,
        ),
        Method(
            "shap-gradient",
            "SHAP (expected gradients)",
            shap_gradient,
            Family.GRADIENT,
            signed=True,
            caption="Pixels that push the score towards the class or away from it "
            "(gradients averaged on paths from grey images to this one).",
            overlay_exponent=DENSE_MAP_EXPONENT,
            when_blank="try more samples under Parameters",
            parameters=(
                Parameter(
                    "samples",
                    50,
                    int,
                    help="Random points on paths from a grey image whose gradients are averaged.",
                    minimum=1,
                ),
                Parameter(
                    "background", 8, int, help="Grey reference images, evenly spaced from black to white.", minimum=1
                ),
                SEED,
            ),
            evaluations=lambda p: int(p["samples"]),
            shap=True,
        ),
        Method(
            "lime",
            "LIME",
            lime,
            Family.PERTURBATION,
            signed=True,
            caption="Superpixels that support the class or count against it "
            "(a linear model fitted to perturbed copies).",
            parameters=(
                Parameter("num_samples", 300, int, help="Perturbed copies the linear model is fitted to.", minimum=1),
                Parameter(
                    "segmentation",
                    "quickshift",
                    str,
                    help="How the image is cut into superpixels.",
                    choices=SEGMENTATIONS,
                ),
                Parameter(
                    "segments",
                    40,
                    int,
                    help="About how many superpixels SLIC makes (quickshift ignores it).",
                    minimum=1,
                ),
                SEED,
            ),
            evaluations=lambda p: int(p["num_samples"]),
            when_blank="try more samples under Parameters",
        ),
    )
}


def method_named(name: str) -> Method:
    """The registered method of that name, or MethodError naming the ones there are."""
    if name not in METHODS:
        raise MethodError(f"There is no method called '{name}'; choose one of {', '.join(METHODS)}.")
    return METHODS[name]


# Each check a method reports on its maps, in words: how to read the number (and what is good), and what it is.
DIAGNOSTIC_WORDS = {
    "completeness_error": (
        "The map adds up to the score's rise from the baseline image to within {value:.1%} (within 5% is good; "
        "more steps bring it closer).",
        "Completeness of Integrated Gradients: |sum of the map − (score of the image − score of the baseline)| / "
        "|score of the image − score of the baseline|; exact attributions give 0%.",
    ),
}


def diagnostic_in_words(key: str, value: float) -> tuple[str, str]:
    """(how to read it, what it is) for one number of `Explanation.diagnostics`."""
    reading, detail = DIAGNOSTIC_WORDS.get(key, (f"{key.replace('_', ' ').capitalize()}: {{value:.1%}}.", ""))
    return reading.format(value=value), detail


def method_params(method: Method, overrides: dict | None = None) -> dict:
    """The method's defaults updated with `overrides`, each checked and converted (`Method.params`)."""
    return method.params(overrides)


def explain(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, method: str, params: dict | None = None
) -> np.ndarray:
    """Raw maps (N, H, W) float32 of `method` for model-sized pixels and target class indices."""
    chosen = method_named(method)
    if chosen.needs_gradients:
        model.require_gradients(chosen.title)
    targets = np.broadcast_to(np.asarray(targets, np.int32), (len(pixels),)).copy()
    maps = chosen.function(model, np.asarray(pixels, np.float32), targets, **method_params(chosen, params))
    return np.asarray(maps, np.float32)


@dataclass(frozen=True)
class Explanation:
    """One image explained: the raw map (model input space), its target and the box fit of the map,
    in the coordinates of the image as given."""

    method: str
    map: np.ndarray
    target: int
    target_label: str
    fit: BoxFit
    seconds: float
    diagnostics: dict = field(default_factory=dict)  # e.g. {"completeness_error": 0.003}


def explain_images(
    model: LoadedModel,
    images: list[np.ndarray],
    method: str,
    targets: list[int] | None = None,
    params: dict | None = None,
    tol: float = 0.9,
    *,
    progress: Progress | None = None,
) -> list[Explanation]:
    """Explains RGB uint8 images of any size for `targets` (default: each image's predicted class). `progress`
    counts the model passes as they run (its `total` is set here) and stops between two of them when asked
    (raising `Stopped`)."""
    chosen = METHODS[method]
    if progress is not None:
        progress.total = expected_passes(chosen, params, len(images), targets is None)
    watched = reporting(progress) if progress is not None else contextlib.nullcontext()  # else: whoever watches
    with guard(f"Explaining with {model.name} ({chosen.title})"), watched:
        pixels = model.spec.resize(images)
        if targets is None:
            targets = model.scores(pixels).argmax(axis=1).tolist()
        started = time.perf_counter()
        maps = explain(model, pixels, np.asarray(targets), method, params)
        seconds = (time.perf_counter() - started) / max(1, len(images))
        checks = (
            [{}] * len(images)
            if chosen.diagnostics is None
            else chosen.diagnostics(model, pixels, np.asarray(targets), maps, method_params(chosen, params))
        )
    height, width = model.spec.input_size
    results = []
    for image, raw, target, check in zip(images, maps, targets, checks, strict=True):
        fit = fit_box(raw, tol).scaled(image.shape[1], image.shape[0], width, height)
        results.append(Explanation(method, raw, int(target), model.spec.labels[int(target)], fit, seconds, check))
    if progress is not None:
        progress.finish()
    return results


def expected_passes(method: Method, params: dict | None, images: int, find_targets: bool = True) -> int:
    """The model passes (forward-pass equivalents) `explain_images` will count for `images` images: the method's
    own, the forward pass that finds each image's predicted class, and the two of a method's checks."""
    checks = 2 if method.diagnostics is not None else 0
    return images * (method.passes(method_params(method, params)) + int(find_targets) + checks)


def load_in_background(names: list[str], then: Callable[[], None] | None = None) -> threading.Thread:
    """Starts a thread that loads the named models one after the other, then warms each up (`warm_up`): a first
    page that needs only their predictions gets each model as soon as it is loaded (a page asking for one that is
    being loaded waits for it, not for a second copy), and the compiles come after. A model that fails to load
    is left for the page that asks for it to report. `then()` runs last, in the same thread."""
    from core.errors import UserError
    from core.scoring import load_model

    def load_all(progress: Progress) -> None:
        loaded = []
        for name in names:
            progress.check()  # the process is ending
            try:
                loaded.append(load_model(name))
            except UserError:
                continue
        for model in loaded:
            progress.check()
            warm_up(model)
        if then is not None:
            then()

    return in_background(load_all, "loading models")


def warm_up_in_background(model: LoadedModel, then: Callable[[], None] | None = None) -> threading.Thread:
    """`warm_up` in a thread of its own: the model's predictions are ready at once, its explanations a moment
    later. `then()` runs after it, in the same thread."""

    def warm(progress: Progress) -> None:
        warm_up(model)
        if then is not None:
            then()

    return in_background(warm, f"warming up {model.name}")


def warm_up(model: LoadedModel) -> None:
    """Compiles the box fit, LIME's sampler and the model's input-gradient step (on one blank image), so the first
    map a user asks for costs what every later one does (tracing takes about a second)."""
    boxes.warm_up()  # both in the background; models without gradients fit boxes too (SHAP, LIME)
    perturbation.warm_up()
    if model.differentiable:  # the whole path: resize, scores, the gradient step and the box fit
        explain_images(model, [np.zeros((8, 8, 3), np.uint8)], "saliency", [0])
