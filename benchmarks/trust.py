"""Cost of the trust checks (core.trust) as ratios, with their spread; a measurement, not a test.

- Deletion and insertion: their time per image divided by their model passes times one forward pass per image
  (at the batch they use, 32), each measurement between two of the forward pass as in benchmarks/speed.py; and
  divided by the time spent inside their own passes, timed while they run. The target is 1.1 × their passes.
- The sanity check: its time per image divided by the time of the method's own map (× own map) and by (1 + steps)
  of them (× passes), so the overhead of the randomisation and the similarities shows; and, apart, its first call
  on a model, which also copies the model and traces the copy's steps.

    .venv/bin/python -m benchmarks.trust [--models demo-efficientnet] [--repeats 3] [--images 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import core
from benchmarks.speed import Row, _paired, _seconds
from core import dataset
from core.catalog import BUNDLED
from core.explain import explain
from core.scoring import load_model
from core.trust.faithfulness import deletion_insertion, deletion_insertion_passes, faithfulness_report, report_passes
from core.trust.sanity import DEFAULT_STEPS, cascade_steps, sanity_check, sanity_passes

BATCH = 32


def measure(model_name: str, images: int, repeats: int) -> list[Row]:
    model = load_model(model_name)
    dogs = [dataset.generate(3, 900 + i) for i in range(images)]
    pixels = model.spec.resize([dog.pixels for dog in dogs])
    targets = model.scores(pixels).argmax(axis=1)
    maps = explain(model, pixels, targets, "gradcam")
    probe = np.repeat(pixels, -(-BATCH // len(pixels)), axis=0)[:BATCH]

    def forward() -> float:
        return _seconds(lambda: model.scores(probe, BATCH), 3) / BATCH

    def one_map() -> None:
        for p, t, m in zip(pixels, targets, maps, strict=True):
            deletion_insertion(model, p, int(t), {"map": m})

    def report() -> None:
        for p, t, m in zip(pixels, targets, maps, strict=True):
            faithfulness_report(model, p, int(t), m)

    rows = [
        _paired("deletion + insertion, one map (20 steps)", forward, one_map, images, repeats,
                deletion_insertion_passes(1), model=model),
        _paired("deletion + insertion, map + 3 random + centre", forward, report, images, repeats,
                report_passes(), model=model),
    ]  # fmt: skip
    steps = cascade_steps(model, DEFAULT_STEPS)
    one = pixels[:1]
    for method in ("gradcam", "saliency"):

        def alone(method=method) -> float:
            return _seconds(lambda: explain(model, one, targets[:1], method), 3)

        def check(method=method) -> None:
            sanity_check(model, one, targets[:1], method, steps=DEFAULT_STEPS)

        # The first check on a model copies it and traces the copy's steps; later ones reuse them.
        first = Row(f"sanity check, {method}: its first call on the model, × its own map", [], [])
        own = alone()
        started = time.perf_counter()
        check()
        first.seconds.append(time.perf_counter() - started)
        first.ratios.append(first.seconds[0] / own)
        rows.append(first)
        row = _paired(f"sanity check, {method} ({steps} steps) × its own map", alone, check, 1, repeats, 1 + steps)
        row.name += f" [{sanity_passes(method, steps=steps)} forward-pass equivalents]"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trust", description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[name for name in BUNDLED if name != "demo-shortcut"])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    core.quiet_tensorflow()
    print("| model | measurement | ms per image | × forward (or × own map) | × passes | × time in passes |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        for row in measure(name, args.images, args.repeats):
            milliseconds, ratio, per_pass, in_run = row.cells()
            print(f"| {name} | {row.name} | {milliseconds} | {ratio} | {per_pass} | {in_run} |", flush=True)


if __name__ == "__main__":
    main()
