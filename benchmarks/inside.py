"""One class-model ascent step beside one gradient step of the same model (target: within 1.3 ×).

    .venv/bin/python -m benchmarks.inside

Each preset's step (one image, timed over a chunk of steps in the compiled loop) is measured between two timings
of the input gradient of one image (core.explain.gradients.input_gradients) and divided by their mean, so both see
the same machine load; prints the median ratio of the repeats and their range, on the wall clock and in this
process's processor time (all its threads), which other processes on the machine disturb less. A ratio, not a
time: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import core


def _gradient_step_seconds(model, pixels, repeats: int) -> np.ndarray:
    """(wall, processor) seconds of one input gradient."""
    from core.explain.gradients import input_gradients

    started = np.array([time.perf_counter(), time.process_time()])
    for _ in range(repeats):
        input_gradients(model, pixels, np.array([1]), batch_size=1)
    return (np.array([time.perf_counter(), time.process_time()]) - started) / repeats


def _ascent_step_seconds(model, preset: str, steps: int) -> np.ndarray:
    """(wall, processor) seconds of one ascent step, in one compiled chunk: the final scoring is not a step."""
    from core.inside.class_model import PRESETS, class_ascent
    from core.inside.statistics import training_statistics

    statistics = training_statistics(model.spec)
    started = np.array([time.perf_counter(), time.process_time()])
    class_ascent(model, 1, steps, PRESETS[preset], statistics.mean, statistics.colour, chunk=steps)
    return (np.array([time.perf_counter(), time.process_time()]) - started) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inside", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (default: both bundled models)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="ascent steps per measurement")
    args = parser.parse_args(argv)
    core.quiet_tensorflow()
    from core.catalog import BUNDLED
    from core.explain.gradients import input_gradients
    from core.inside.class_model import PRESETS
    from core.scoring import load_model

    print("| model | preset | ascent step ÷ gradient step, wall clock (median, range) | the same in processor time "
          "| gradient step ms |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in args.model or BUNDLED:
        model = load_model(name)
        pixels = np.full((1, *model.pixel_signature.shape[1:]), 128, np.float32)
        input_gradients(model, pixels, np.array([1]), batch_size=1)  # traced before timing
        for preset in PRESETS:
            _ascent_step_seconds(model, preset, 2)  # traced before timing
            ratios, gradient_ms = [], []
            for _ in range(args.repeats):
                before = _gradient_step_seconds(model, pixels, args.steps)
                ascent = _ascent_step_seconds(model, preset, args.steps)
                after = _gradient_step_seconds(model, pixels, args.steps)
                ratios.append(ascent / ((before + after) / 2))
                gradient_ms.append((before[0] + after[0]) / 2 * 1000)
            wall, processor = np.array(ratios).T
            print(f"| {name} | {preset} | {_spread(wall)} | {_spread(processor)} | {np.median(gradient_ms):.0f} |",
                  flush=True)  # fmt: skip


def _spread(ratios: np.ndarray) -> str:
    return f"{np.median(ratios):.2f} ({ratios.min():.2f}–{ratios.max():.2f})"


if __name__ == "__main__":
    main()
