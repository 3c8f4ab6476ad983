"""The one registry of explanation methods, used by the pages, the command line and the tests.

Every method is a pure function `method(model, pixels, targets, **params) -> maps`: pixels are
model-sized (N, H, W, C) float32 in 0..255 (`spec.resize`), targets are class indices (N,), maps
are raw (N, H, W) float32 in the model's input space (signed where the method is signed). Colour,
normalisation and boxes happen in the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core import boxes
from core.boxes import BoxFit, fit_box
from core.explain import perturbation
from core.explain.gradcam import gradcam, gradcam_plus_plus
from core.explain.perturbation import lime, shap_gradient, shap_partition
from core.explain.saliency import completeness_error, integrated_gradients, saliency, smoothgrad
from core.models import LoadedModel


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    function: Callable[..., np.ndarray]
    signed: bool  # True when the map has evidence for (+) and against (−) the class
    needs_gradients: bool
    caption: str  # how to read the map, in plain words
    defaults: dict = field(default_factory=dict)
    passes: Callable[[dict], int] = lambda params: 1  # model passes per image (forward+backward counts as one)
    # Optional checks of a result, e.g. Integrated Gradients' completeness: (model, pixels, targets, maps,
    # params) -> one dict of numbers per image.
    diagnostics: Callable[..., list[dict]] | None = None
    colourmap: str | None = None  # the method's own colour convention, where it has one (LIME: green for)
    colours: str = ""  # how to read the colours, in plain words (default: from `signed`)

    @property
    def legend(self) -> str:
        if self.colours:
            return self.colours
        if self.signed:
            return "red: evidence for the class; blue: evidence against it; clear: no effect."
        return "bright: the strongest influence on the class score; dark or clear: little."


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "saliency",
            "Gradient saliency",
            saliency,
            signed=False,
            needs_gradients=True,
            caption="Pixels where a small change would move the class score most.",
        ),
        Method(
            "smoothgrad",
            "SmoothGrad",
            smoothgrad,
            signed=False,
            needs_gradients=True,
            caption="Saliency averaged over noisy copies of the image: the same reading, less speckle.",
            defaults={"samples": 16, "noise": 0.15, "seed": 0},
            passes=lambda p: int(p["samples"]),
        ),
        Method(
            "integrated-gradients",
            "Integrated Gradients",
            integrated_gradients,
            signed=True,
            needs_gradients=True,
            caption="How much each pixel adds to (+) or takes from (−) the score, compared with a black image.",
            defaults={"steps": 32, "baseline": "black"},
            passes=lambda p: int(p["steps"]),
            diagnostics=lambda model, pixels, targets, maps, params: [
                {"completeness_error": float(error)}
                for error in completeness_error(model, pixels, targets, maps, params["baseline"])
            ],
        ),
        Method(
            "gradcam",
            "Grad-CAM",
            gradcam,
            signed=False,
            needs_gradients=True,
            caption="Regions of the last convolutional layer that raise the class score; coarse but robust.",
            defaults={"layer": None},
        ),
        Method(
            "gradcam++",
            "Grad-CAM++",
            gradcam_plus_plus,
            signed=False,
            needs_gradients=True,
            caption="Grad-CAM weighted towards every instance of the class, not just the strongest.",
            defaults={"layer": None},
        ),
        Method(
            "shap",
            "SHAP (partition, blur masker)",
            shap_partition,
            signed=True,
            needs_gradients=False,
            caption="Regions whose presence pushes the score towards the class or away from it "
            "(Shapley values of blurred patches).",
            defaults={"max_evals": 300, "blur": 16},
            passes=lambda p: int(p["max_evals"]),
        ),
        Method(
            "shap-gradient",
            "SHAP (expected gradients)",
            shap_gradient,
            signed=True,
            needs_gradients=True,
            caption="Pixels that push the score towards the class or away from it "
            "(gradients averaged on paths from grey images to this one).",
            defaults={"samples": 50, "background": 8, "seed": 0},
            passes=lambda p: int(p["samples"]),
        ),
        Method(
            "lime",
            "LIME",
            lime,
            signed=True,
            needs_gradients=False,
            caption="Superpixels that support the class or count against it "
            "(a linear model fitted to perturbed copies).",
            defaults={"num_samples": 300, "segmentation": "quickshift", "segments": 40, "seed": 0},
            passes=lambda p: int(p["num_samples"]),
            colourmap="RdYlGn",
            colours="green: regions supporting the class; red: regions against it.",
        ),
    )
}


def method_params(method: Method, overrides: dict | None = None) -> dict:
    """The method's defaults updated with `overrides`; unknown keys are an error naming the known ones."""
    params = dict(method.defaults)
    for key, value in (overrides or {}).items():
        if key not in params and key != "batch_size":
            known = ", ".join(method.defaults) or "none"
            raise ValueError(f"{method.name} has no parameter '{key}' (its parameters: {known}).")
        params[key] = value
    return params


def explain(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, method: str, params: dict | None = None
) -> np.ndarray:
    """Raw maps (N, H, W) float32 of `method` for model-sized pixels and target class indices."""
    chosen = METHODS[method]
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
) -> list[Explanation]:
    """Explains RGB uint8 images of any size for `targets` (default: each image's predicted class)."""
    pixels = model.spec.resize(images)
    if targets is None:
        targets = model.scores(pixels).argmax(axis=1).tolist()
    started = time.perf_counter()
    maps = explain(model, pixels, np.asarray(targets), method, params)
    seconds = (time.perf_counter() - started) / max(1, len(images))
    chosen = METHODS[method]
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
    return results


def warm_up(model: LoadedModel) -> None:
    """Compiles the box fit, LIME's sampler and the model's input-gradient step (on one blank image), so the first
    map a user asks for costs what every later one does (tracing takes about a second)."""
    boxes.warm_up()  # both in the background; models without gradients fit boxes too (SHAP, LIME)
    perturbation.warm_up()
    if model.gradients:  # the whole path: resize, scores, the gradient step and the box fit
        explain_images(model, [np.zeros((8, 8, 3), np.uint8)], "saliency", [0])
