"""Box quality: mean IoU of the saliency-fitted box with the true box on unseen generated images,
for each source map and model, beside two baselines (the whole image; the training set's mean box).

    .venv/bin/python -m benchmarks.boxes --count 500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import core
from core import dataset
from core.boxes import fit_box, iou
from core.catalog import BUNDLED
from core.explain import explain
from core.scoring import load_model

SOURCES = {
    "saliency": {},
    "smoothgrad": {"samples": 8},
    "integrated-gradients": {"steps": 16},
    "gradcam": {},
    "gradcam++": {},
}


def main(argv: list[str] | None = None) -> None:
    core.quiet_tensorflow()  # before anything imports TensorFlow
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=3, help="an image set no model was trained or validated on")
    parser.add_argument("--tol", type=float, default=0.9)
    parser.add_argument("--methods", nargs="*", default=list(SOURCES))
    args = parser.parse_args(argv)
    dogs = [dataset.generate(args.seed, i) for i in range(args.count)]
    truth = [d.box for d in dogs]
    images = np.stack([d.pixels for d in dogs])
    size = dataset.IMAGE_SIZE
    training_boxes = np.array([dataset.generate(1, i).box for i in range(1000)], float)
    baselines = {"whole image": (0, 0, size, size), "mean training box": tuple(training_boxes.mean(axis=0))}
    rows = [
        {"source": name, "model": "-", "mean_iou": round(float(np.mean([iou(box, t) for t in truth])), 3)}
        for name, box in baselines.items()
    ]
    for model_name in BUNDLED:
        model = load_model(model_name)
        pixels = model.spec.resize(list(images))
        targets = np.array([d.label for d in dogs])  # explain the true class
        for method in args.methods:
            started = time.perf_counter()
            maps = explain(model, pixels, targets, method, SOURCES[method])
            ious = [iou(fit_box(m, args.tol).box, t) for m, t in zip(maps, truth, strict=True)]
            rows.append(
                {
                    "source": method,
                    "model": model_name,
                    "mean_iou": round(float(np.mean(ious)), 3),
                    "median_iou": round(float(np.median(ious)), 3),
                    "seconds_per_image": round((time.perf_counter() - started) / len(dogs), 4),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(f"| source map | model | mean IoU ({args.count} images of set {args.seed}, tol {args.tol}) |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['source']} | {row['model']} | {row['mean_iou']:.3f} |")


if __name__ == "__main__":
    main()
