"""Batch run speed: images per second of `python -m core batch` (here: Grad-CAM with both bundled models on
generated PNG files) with the local engine and with Ray on this machine, Ray's start-up reported on its own.

    .venv/bin/python -m benchmarks.batch --count 500 --repeats 3

Each repeat runs the local engine, then Ray, into fresh output folders, so both see the same machine load. The
steady state is the pace between the first finished chunk and the last (local chunks of 32 images, Ray calls of
64); start-up is the time to the first finished chunk less that chunk's images at the steady pace (for Ray:
starting Ray, its actor, TensorFlow, the models and the first call's tracing; for the local engine, whose models
are loaded beforehand, the first call's tracing). The table gives the median of the repeats and their range.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import core
from core.images import encode_png

SEED = 3  # the box benchmark's set: no model saw it


MODELS = ("demo-resnet", "demo-efficientnet")  # the pair the pages compare (demo-shortcut is for the trust story)


def write_images(folder: Path, count: int) -> None:
    from core import dataset

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"{index:05d}.png").write_bytes(encode_png(dataset.generate(SEED, index).pixels))


def one_run(engine: str, job_for, images, folder: Path) -> dict:
    """A fresh batch run of `images` with `engine` (every row must come out ok): its steady pace, start-up and
    wall time, read from the times its chunks finished."""
    from core.batch import run_batch

    out = folder / f"out-{engine}-{time.time_ns()}"
    started = time.perf_counter()
    summary = run_batch(job_for(out), images, engine=engine)
    wall = time.perf_counter() - started
    assert summary.counts["ok"] == summary.counts["rows"] == len(images) * len(MODELS), summary.counts
    shutil.rmtree(out, ignore_errors=True)
    timeline = summary.progress.timeline
    if len(timeline) < 3:
        raise SystemExit(f"{len(images)} images finish in fewer than three chunks; give --count 300 or more.")
    (t_first, n_first), (t_last, n_last) = timeline[0], timeline[-1]
    steady = (n_last - n_first) / (t_last - t_first)
    return {"steady": steady, "startup": t_first - n_first / steady, "wall": wall}


def _cell(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> None:
    core.quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="generated images")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from core.batch import Job, find_images
    from core.catalog import get_spec
    from core.evaluation.scoring import model_stamp
    from core.scoring import load_model

    specs = tuple(get_spec(name) for name in MODELS)
    for spec in specs:
        load_model(spec)  # the local engine's loading is not part of its steady state either

    def job_for(out: Path) -> Job:
        stamps = tuple(model_stamp(spec) for spec in specs)
        return Job(specs, stamps, ("gradcam",), {"gradcam": {"layer": None}}, out=str(out))

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="batch-benchmark-") as scratch:
        folder = Path(scratch)
        write_images(folder / "images", args.count)
        images = find_images(folder / "images")
        runs: dict[str, list[dict]] = {"local": [], "ray": []}
        for repeat in range(args.repeats):
            for engine in runs:
                runs[engine].append(one_run(engine, job_for, images, folder))
                print(f"repeat {repeat + 1} {engine}: {runs[engine][-1]}", flush=True)
    load_after = os.getloadavg()
    local = [r["steady"] for r in runs["local"]]
    ray = [r["steady"] for r in runs["ray"]]
    ratios = [r / loc for r, loc in zip(ray, local, strict=True)]
    print(f"\n{args.count} generated images, Grad-CAM with {' and '.join(MODELS)}, {os.cpu_count()} CPUs; load "
          f"average (1, 5, 15 min) {tuple(round(v, 2) for v in load_before)} before, "
          f"{tuple(round(v, 2) for v in load_after)} after\n")  # fmt: skip
    print("| engine | steady images per second | start-up (s) | wall time (s) |")
    print("|---|---|---|---|")
    print(f"| local | {_cell(local)} | {_cell([r['startup'] for r in runs['local']])} | "
          f"{_cell([r['wall'] for r in runs['local']])} |")  # fmt: skip
    print(f"| Ray, on this machine | {_cell(ray)} | {_cell([r['startup'] for r in runs['ray']])} | "
          f"{_cell([r['wall'] for r in runs['ray']])} |")  # fmt: skip
    print(f"\nRay's steady pace ÷ the local engine's, per repeat: {_cell(ratios, 2)} (target ≥ 0.85)")
    per_image = 1 / statistics.median(local)
    print(f"per image (both models), one 2-CPU worker: {per_image * 1000:.0f} ms; one million images on N such "
          f"workers: {per_image * 1e6 / 3600:.0f} / N hours")  # fmt: skip


if __name__ == "__main__":
    main()
