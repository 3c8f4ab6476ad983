"""Speed of every method on both bundled models, as ratios (machines here are shared and noisy, so
ratios to the same model's forward pass mean more than seconds).

For each method: seconds per image and the ratio to one batched forward pass per image; for the
perturbation methods also the ratio to (model passes x forward cost). Beside ours: tf-keras-vis
(Saliency, Gradcam) and lime/shap called with their defaults on the same model and image.

    .venv/bin/python -m benchmarks.speed [--images 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import core  # noqa: F401
from core.boxes import fit_box
from core.explain import METHODS, explain, method_params
from core.models import BUNDLED, load_model
from models import dataset

BUDGETS = {"smoothgrad": {"samples": 16}, "integrated-gradients": {"steps": 32}}


def _timed(function, repeats: int = 3) -> float:
    function()  # warm-up: tracing and caches are not what we measure
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def _tf_keras_vis(model, pixels: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.saliency import Saliency
    except ImportError:
        return {}
    inputs = np.asarray(model.preprocess_graph(pixels))
    score = lambda output: output[:, 0]  # noqa: E731  (the one sigmoid unit, as tf-keras-vis wants it)
    saliency = Saliency(model.model, clone=True)
    gradcam = Gradcam(model.model, clone=True)
    layer = model.spec.gradcam_layer
    return {
        "saliency": _timed(lambda: saliency(score, inputs)) / len(pixels),
        "gradcam": _timed(lambda: gradcam(score, inputs, penultimate_layer=layer)) / len(pixels),
    }


def _library_defaults(model, image: np.ndarray) -> dict[str, tuple[float, int]]:
    """(seconds, model passes) for lime and shap called with their own defaults on one image."""
    from lime import lime_image

    results = {}
    calls = {"count": 0}

    def scores(batch):
        calls["count"] += len(batch)
        return model.scores(np.asarray(batch, np.float32))

    started = time.perf_counter()
    lime_image.LimeImageExplainer(random_state=0).explain_instance(image.astype(np.uint8), scores, top_labels=1)
    results["lime"] = (time.perf_counter() - started, calls["count"])
    import shap

    calls["count"] = 0
    explainer = shap.Explainer(scores, shap.maskers.Image("blur(16,16)", image.shape))
    started = time.perf_counter()
    explainer(image[None].astype(np.float32), outputs=[1])
    results["shap"] = (time.perf_counter() - started, calls["count"])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument(
        "--skip-libraries", action="store_true", help="do not time tf-keras-vis, lime and shap defaults"
    )
    args = parser.parse_args(argv)
    images, labels = dataset.generate_batch(seed=61, count=args.images)
    for name in BUNDLED:
        model = load_model(name)
        pixels = model.spec.resize(list(images))
        targets = labels.astype(np.int32)
        # Per-image forward cost at the batch the method itself uses: the 8 images for gradient methods,
        # 48 perturbed copies for SHAP and LIME (they call the model in batches of 50). Best of 5.
        forward = _timed(lambda: model.scores(pixels), repeats=5) / len(pixels)  # noqa: B023
        batch = np.concatenate([pixels] * (48 // len(pixels) or 1))
        forward_large = _timed(lambda: model.scores(batch, 48), repeats=5) / len(batch)  # noqa: B023
        print(
            f"\n{name}: one batched forward pass = {forward * 1000:.2f} ms per image in a batch of "
            f"{len(pixels)}, {forward_large * 1000:.2f} ms in a batch of {len(batch)}"
        )
        print(f"{'method':<22}{'ms/image':>10}{'x forward':>11}{'passes':>8}{'x (passes x forward)':>22}")
        saliency_map = None
        for method_name, method in METHODS.items():
            params = method_params(method, BUDGETS.get(method_name, {}))
            seconds = _timed(lambda: explain(model, pixels, targets, method_name, params), repeats=1) / len(pixels)  # noqa: B023
            passes = method.passes(params)
            per_pass = forward if method.needs_gradients else forward_large
            print(
                f"{method_name:<22}{seconds * 1000:>10.1f}{seconds / forward:>11.1f}{passes:>8}"
                f"{seconds / (passes * per_pass):>22.2f}"
            )
            if method_name == "saliency":
                saliency_map = explain(model, pixels[:1], targets[:1], "saliency")[0]
        box_seconds = _timed(lambda: fit_box(saliency_map), repeats=5)  # noqa: B023
        print(f"{'box fitting':<22}{box_seconds * 1000:>10.2f}{box_seconds / forward:>11.3f}")
        if args.skip_libraries:
            continue
        for method_name, seconds in _tf_keras_vis(model, pixels, targets).items():
            print(f"{'tf-keras-vis ' + method_name:<22}{seconds * 1000:>10.1f}{seconds / forward:>11.1f}")
        for method_name, (seconds, passes) in _library_defaults(model, pixels[0]).items():
            print(
                f"{method_name + ' (defaults)':<22}{seconds * 1000:>10.1f}{seconds / forward:>11.1f}{passes:>8}"
                f"{seconds / (passes * forward_large):>22.2f}"
            )


if __name__ == "__main__":
    main()
