"""Speed of every method on both bundled models, as ratios to the same model's forward pass, with their spread.

These machines are shared: another process can halve the speed of everything for a while. So each
measurement of a method sits between two measurements of the forward pass (each the median of three
calls), the ratio is taken to their mean, and the table shows the median ratio over the repeats with its
range (min–max), which says how sure each number is.

"x forward" divides a method's time per image by one forward pass per image at the batch the method
itself uses (the --images for gradient methods; batches of 50 for SHAP and LIME, which call the model in
batches of 50). "x passes" divides by the model passes the method needs times that cost. "x time in
passes" (SHAP, LIME and the libraries' defaults) divides the method's time by the time it spent inside
the model's own passes, timed while it runs: the overhead around the passes, under the same load.
Methods with more than one pass run on --few-images images per call.

    .venv/bin/python -m benchmarks.speed [--images 8] [--few-images 2] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import core
from core import dataset
from core.boxes import fit_box
from core.catalog import BUNDLED
from core.explain import METHODS, explain, method_params
from core.explain.perturbation import clear_segment_cache
from core.scoring import load_model

BUDGETS = {"smoothgrad": {"samples": 16}, "integrated-gradients": {"steps": 32}}
PERTURBATION_BATCH = 50  # the batch SHAP and LIME hand to the model (core/explain/perturbation.py)


@dataclass
class Row:
    name: str
    seconds: list[float]  # per image, one per repeat
    ratios: list[float]  # seconds / forward per image, paired per repeat
    passes: int | None = None
    in_run: list[float] = field(default_factory=list)  # seconds / seconds inside the model's passes, per repeat

    @staticmethod
    def spread(values: list[float], digits: int) -> str:
        middle = statistics.median(values)
        return f"{middle:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    def cells(self) -> tuple[str, str, str, str]:
        top = max(self.ratios)
        digits = 3 if top < 0.1 else 2 if top < 10 else 1 if top < 100 else 0
        per_pass = "" if self.passes is None else self.spread([r / self.passes for r in self.ratios], 2)
        in_run = self.spread(self.in_run, 2) if self.in_run else ""
        return f"{statistics.median(self.seconds) * 1000:.2f}", self.spread(self.ratios, digits), per_pass, in_run


def _seconds(function: Callable[[], object], calls: int = 1) -> float:
    """Median wall time of `calls` calls."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _paired(
    name: str,
    forward: Callable[[], float],
    method: Callable[[], object],
    count: int,
    repeats: int,
    passes: int | None = None,
    calls: int = 1,
    model=None,
) -> Row:
    """`repeats` measurements of the method per image over `count` images, each between two measurements of
    the forward pass per image; its ratio is to the mean of those two. With `model`, also the ratio of the
    method's time to the time it spent inside `model.scores` (its own passes, timed as they run)."""
    method()  # warm-up: tracing, caches and compilation are not what we measure
    seconds, ratios, in_run = [], [], []
    inside = _time_inside_scores(model) if model is not None else None
    try:
        before = forward()
        for _ in range(repeats):
            if inside is not None:
                inside["seconds"] = 0.0
            total = _seconds(method, calls)
            spent_inside = inside["seconds"] if inside is not None else 0.0  # before forward() adds to it
            after = forward()
            seconds.append(total / count)
            ratios.append(total / count / ((before + after) / 2))
            if inside is not None:
                in_run.append(total / spent_inside)
            before = after
    finally:
        if model is not None:
            del model.scores  # back to the class's method
    return Row(name, seconds, ratios, passes, in_run)


def _time_inside_scores(model) -> dict:
    """Shadows `model.scores` on this instance with a timed copy; the seconds spent in it add up in the dict."""
    inside = {"seconds": 0.0}
    scores = type(model).scores.__get__(model)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return scores(*args, **kwargs)
        finally:
            inside["seconds"] += time.perf_counter() - started

    model.scores = timed
    return inside


def _explain_anew(model, pixels: np.ndarray, targets: np.ndarray, method: str, params: dict) -> np.ndarray:
    """`explain` as on images never seen before: LIME keeps the superpixels of the last few images."""
    clear_segment_cache()
    return explain(model, pixels, targets, method, params)


def _forward(model, pixels: np.ndarray, batch: int) -> Callable[[], float]:
    """Seconds per image of one forward pass at `batch` (median of three calls)."""
    model.scores(pixels, batch)  # warm-up
    return lambda: _seconds(lambda: model.scores(pixels, batch), calls=3) / len(pixels)


def _tf_keras_vis(model, pixels: np.ndarray, forward, repeats: int) -> list[Row]:
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.saliency import Saliency
    except ImportError:
        return []
    inputs = np.asarray(model.preprocess_graph(pixels))
    score = lambda output: output[:, 0]  # noqa: E731  (the one sigmoid unit, as tf-keras-vis wants it)
    saliency = Saliency(model.model, clone=True)
    gradcam = Gradcam(model.model, clone=True)
    layer = model.spec.gradcam_layer
    return [
        _paired("*tf-keras-vis* Saliency", forward, lambda: saliency(score, inputs), len(pixels), repeats),
        _paired(
            "*tf-keras-vis* Gradcam",
            forward,
            lambda: gradcam(score, inputs, penultimate_layer=layer),
            len(pixels),
            repeats,
        ),
    ]


def _library_defaults(model, image: np.ndarray, forward, repeats: int) -> list[Row]:
    """lime and shap called with their own defaults on one image (lime: 1000 samples, shap: 500 evaluations)."""
    import shap
    from lime import lime_image

    calls = {"count": 0}

    def scores(batch):
        calls["count"] += len(batch)
        return model.scores(np.asarray(batch, np.float32))

    def run_lime():
        lime_image.LimeImageExplainer(random_state=0).explain_instance(image.astype(np.uint8), scores, top_labels=1)

    def run_shap():
        explainer = shap.Explainer(scores, shap.maskers.Image("blur(16,16)", image.shape))
        explainer(image[None].astype(np.float32), outputs=[1], silent=True)

    rows = []
    for name, run in (("*lime* with its defaults", run_lime), ("*shap* with its defaults", run_shap)):
        calls["count"] = 0
        run()
        passes = calls["count"]
        rows.append(_paired(name, forward, run, 1, repeats, passes, model=model))
    return rows


def _print(model_name: str, rows: list[Row], forward_ms: tuple[float, float], count: int) -> None:
    print(
        f"\n{model_name}: forward pass {forward_ms[0]:.2f} ms per image in a batch of {count}, "
        f"{forward_ms[1]:.2f} ms in a batch of {PERTURBATION_BATCH} (medians)"
    )
    print(
        f"{'method':<44}{'ms/image':>10}{'x forward (min–max)':>22}{'x passes (min–max)':>22}{'x time in passes':>22}"
    )
    for row in rows:
        ms, ratio, per_pass, in_run = row.cells()
        name = row.name if not row.passes or row.passes == 1 else f"{row.name} [{row.passes} passes]"
        print(f"{name:<44}{ms:>10}{ratio:>22}{per_pass:>22}{in_run:>22}")


def main(argv: list[str] | None = None) -> None:
    core.quiet_tensorflow()  # before anything imports TensorFlow
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images per call of a gradient method")
    parser.add_argument(
        "--few-images", type=int, default=2, help="images per call of methods with many passes (SHAP, LIME, ...)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="paired measurements per method")
    parser.add_argument("--models", nargs="*", default=list(BUNDLED))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument(
        "--skip-libraries", action="store_true", help="do not time tf-keras-vis, lime and shap defaults"
    )
    parser.add_argument("--markdown", action="store_true", help="also print one markdown table of both models")
    args = parser.parse_args(argv)
    images, labels = dataset.generate_batch(seed=61, count=args.images)
    table: dict[str, dict[str, Row]] = {}
    for name in args.models:
        model = load_model(name)
        pixels = model.spec.resize(list(images))
        targets = labels.astype(np.int32)
        few = slice(0, args.few_images)
        batch = np.resize(pixels, (PERTURBATION_BATCH, *pixels.shape[1:]))  # the images repeated to one batch
        forward, forward_large = _forward(model, pixels, len(pixels)), _forward(model, batch, PERTURBATION_BATCH)
        rows = []
        for method_name in args.methods:
            method = METHODS[method_name]
            params = method_params(method, BUDGETS.get(method_name, {}))
            # Model evaluations, not the registry's cost in forward passes: "x passes" measures what one
            # evaluation costs, the number behind FORWARD_PASSES_PER_GRADIENT_PASS.
            passes = method.evaluations(params)
            chosen = slice(None) if passes == 1 else few
            rows.append(
                _paired(
                    method_name,
                    forward if method.needs_gradients else forward_large,
                    functools.partial(_explain_anew, model, pixels[chosen], targets[chosen], method_name, params),
                    len(pixels[chosen]),
                    args.repeats,
                    passes,
                    model=None if method.needs_gradients else model,
                )
            )
        saliency_map = explain(model, pixels[:1], targets[:1], "saliency")[0]
        box = _paired("box fitting", forward, lambda: fit_box(saliency_map), 1, args.repeats, calls=51)  # noqa: B023
        box.name = f"box fitting ({saliency_map.shape[1]}×{saliency_map.shape[0]} map)"
        rows.append(box)
        if not args.skip_libraries:
            rows += _tf_keras_vis(model, pixels, forward, args.repeats)
            rows += _library_defaults(model, pixels[0], forward_large, max(2, args.repeats // 2))
        forward_ms = (statistics.median(forward() for _ in range(3)) * 1000, forward_large() * 1000)
        _print(name, rows, forward_ms, len(pixels))
        table[name] = {row.name: row for row in rows}
    if args.markdown:
        names = list(table)
        print("\n| method | " + " | ".join(f"{n} × forward | × passes | × time in passes" for n in names) + " |")
        print("|---|" + "---|---|---|" * len(names))
        for method_name in table[names[0]]:
            cells = []
            for n in names:
                cells += table[n][method_name].cells()[1:]
            print(f"| {method_name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
