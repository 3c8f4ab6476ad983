"""Evaluation speed: images per second of the whole scoring pipeline (read, hash, decode, resize, score) on a
labelled set, beside decoding alone (the same threads, no model) and the batched forward pass alone (pixels
already in memory). Decoding runs ahead of the models in threads, so the pipeline should reach at least
0.8 × the slower of the two.

    .venv/bin/python -m benchmarks.evaluate --count 1000 --repeats 3

Each repeat measures decoding, the forward pass and the pipeline one after the other, so all three see the same
machine load; the table gives the median of the repeats and their range.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import core
from core.catalog import BUNDLED
from core.evaluation import ScoreCache, score_set
from core.evaluation.data import BUNDLED_SEED, bundled_set_path, read_set
from core.evaluation.scoring import BATCH, _decode_one, decoding_threads
from core.scoring import load_model

TARGET = 0.8


def decoding_rate(labelled, spec, workers: int) -> float:
    """Images per second read, hashed, decoded and resized for one model by `workers` threads, nothing cached."""
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda image: _decode_one(image, lambda sha: ([("m", spec)], {})), labelled.images))
    assert all(result.error is None for result in results)
    return len(results) / (time.perf_counter() - started)


def forward_rate(model, pixels: np.ndarray) -> float:
    """Images per second of the model's batched forward pass on pixels already in memory."""
    started = time.perf_counter()
    model.probabilities(pixels, batch_size=model.batch(BATCH))
    return len(pixels) / (time.perf_counter() - started)


def pipeline_rate(labelled, model, workers: int) -> float:
    """Images per second of score_set from the files, with an empty cache."""
    started = time.perf_counter()
    score_set(labelled, [model], cache=ScoreCache(), workers=workers)
    return len(labelled.images) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    core.quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="images of the generated set")
    parser.add_argument("--seed", type=int, default=BUNDLED_SEED, help="a set no model was trained on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=decoding_threads(), help="decoding threads (default: score_set's, by core count)"
    )
    parser.add_argument("--models", nargs="*", default=list(BUNDLED))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    labelled = read_set(bundled_set_path(args.count, args.seed))
    print(f"set of {len(labelled.images)} images ready in {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for name in args.models:
        model = load_model(name)
        from core.images import decode_image

        pixels = model.spec.resize([decode_image(image.path.read_bytes()).pixels for image in labelled.images])
        model.probabilities(pixels[: 2 * BATCH], batch_size=model.batch(BATCH))  # warm every batch size once
        measured = {"decoding": [], "forward": [], "pipeline": []}
        for _ in range(args.repeats):
            measured["decoding"].append(decoding_rate(labelled, model.spec, args.workers))
            measured["forward"].append(forward_rate(model, pixels))
            measured["pipeline"].append(pipeline_rate(labelled, model, args.workers))
        ratios = [p / min(d, f) for d, f, p in zip(*measured.values(), strict=True)]
        rows.append((name, measured, ratios))
        print(name, {k: [round(v) for v in values] for k, values in measured.items()}, flush=True)
    print()
    print(f"| model | decoding alone | forward pass alone | pipeline | pipeline ÷ slower (target ≥ {TARGET}) |")
    print("|---|---|---|---|---|")
    for name, measured, ratios in rows:
        cells = [_cell(measured[key], "{:.0f}") for key in ("decoding", "forward", "pipeline")]
        print(f"| {name} | {' | '.join(cells)} | {_cell(ratios, '{:.2f}')} |")
    print(f"\nimages per second; median of {args.repeats} repeats (range), {len(labelled.images)} images, "
          f"{args.workers} decoding thread{'s' if args.workers != 1 else ''}")  # fmt: skip


def _cell(values: list[float], form: str) -> str:
    return f"{form.format(float(np.median(values)))} ({form.format(min(values))}–{form.format(max(values))})"


if __name__ == "__main__":
    main()
