"""Server time of a rerun of the Saliency, Compare or Bounding boxes page over results already computed: 8 images x
2 models.

Three changes a user makes after the maps are computed, each run through Streamlit's AppTest (the script, the
widgets and st.image's encoding, without a browser): a plain rerun, a change of the overlay opacity (of the box's
tol on the Bounding boxes page), and a switch back to a method already explained. Every result is cached before
timing starts, so what is measured is drawing.

These machines are shared, so each timed rerun sits between two runs of a fixed reference workload (encoding a
640x640 photo as PNG and JPEG, the kind of work a rerun does), and the table shows, besides the milliseconds, the
rerun's time as a multiple of the reference, the wall clock of the script itself, and the processor time of the
script's own thread (which another process slows far less than the wall clock): each the median over the repeats
with its range (min-max). The whole AppTest run also holds what Streamlit does after the script on the same thread
(the full garbage collection of `runner.postScriptGC`, which `dashboard/state.py` keeps short by freezing the
long-lived objects once the models are loaded).

    .venv/bin/python -m benchmarks.rerun [--page saliency|compare|boxes] [--repeats 7] [--profile FOLDER]

--profile FOLDER writes one cProfile per change (of the script's own thread, where the page runs) for
`python -m pstats`; its times then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import statistics
import time
from pathlib import Path

import numpy as np

import core

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
# Four generated dogs (160 pixels, drawn at 640) and the four scikit-image photos (up to 640x427).
SAMPLES = (0, 1, 2, 3, 8, 9, 10, 11)
# Opacities never shown before in the run, so each change draws new pictures (the default is 0.65).
OPACITIES = tuple(round(step * 0.05, 2) for step in range(1, 21) if step != 13)
# On the Bounding boxes page the second change is the box's tol instead, never the default 0.9 either.
TOLS = tuple(round(0.5 + step * 0.02, 2) for step in range(20) if step != 10)
SECOND_CHANGE = {
    "saliency": ("opacity change", "saliency_opacity", OPACITIES),
    "compare": ("opacity change", "compare_opacity", OPACITIES),
    "boxes": ("tol change", "boxes_tol", TOLS),
}


def _reference() -> float:
    """Seconds for a fixed piece of image work: a 640x640 photo encoded as PNG and as JPEG."""
    from PIL import Image

    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (640, 640, 3), np.uint8))
    start = time.perf_counter()
    for image_format in ("PNG", "JPEG"):
        photo.save(io.BytesIO(), format=image_format)
    return time.perf_counter() - start


def _app(page: str):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=600)
    app.run()
    for index in range(12):
        app.session_state[f"sample_{index}"] = index in SAMPLES
    app.switch_page(f"views/{page}.py").run()
    for method in ("gradcam", "saliency"):  # both computed (and drawn once) before anything is timed
        app.session_state[f"{page}_method"] = method
        app.run()
    assert not app.exception, app.exception
    return app


class _ScriptThread:
    """The page script's runs, which happen on the script runner's thread, not this one: the processor time each
    takes on that thread (what the rerun costs the server, whatever else the machine is doing), and a cProfile of
    them while `profile` is set."""

    def __init__(self) -> None:
        from streamlit.runtime.scriptrunner import script_runner

        self.profile: cProfile.Profile | None = None
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        original = script_runner.exec_func_with_error_handling

        def measured(*args, **kwargs):
            start = time.thread_time()
            wall = time.perf_counter()
            if self.profile is not None:
                self.profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                if self.profile is not None:
                    self.profile.disable()
                self.cpu_seconds = time.thread_time() - start
                self.wall_seconds = time.perf_counter() - wall

        script_runner.exec_func_with_error_handling = measured


def _pictures(app) -> int:
    return sum(len(element.proto.imgs) for element in app.get("image"))


def _scenarios(app, page: str):
    """Each scenario: a name and a function that changes the app's state (the timed part is the rerun)."""
    title, slider, values = SECOND_CHANGE[page]
    values = iter(values)

    def plain() -> None:
        pass

    def second() -> None:
        app.slider(key=slider).set_value(next(values))

    def method_back() -> None:
        app.session_state[f"{page}_method"] = "gradcam"
        app.run()  # the switch away is not timed: only the switch back to saliency
        app.session_state[f"{page}_method"] = "saliency"

    return [("plain rerun", plain), (title, second), ("switch back to a method", method_back)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", choices=tuple(SECOND_CHANGE), default="saliency")
    parser.add_argument("--repeats", type=int, default=7, help=f"at most {len(OPACITIES) - 1}")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each change into this folder")
    options = parser.parse_args()
    if not 1 <= options.repeats < len(OPACITIES):
        parser.error(f"--repeats must be between 1 and {len(OPACITIES) - 1}: each opacity or tol is a new one")
    core.quiet_tensorflow()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's session state warns outside a script run
    script = _ScriptThread()

    app = _app(options.page)
    print(f"{options.page.capitalize()} page, {len(SAMPLES)} images x 2 models, {_pictures(app)} pictures per rerun")
    rows = []
    for name, change in _scenarios(app, options.page):
        seconds, ratios, cpu, script_wall = [], [], [], []
        change()
        app.run()  # one untimed rerun: the first of each kind may fill a cache
        if options.profile:
            script.profile = cProfile.Profile()
        for _ in range(options.repeats):
            before = _reference()
            change()
            start = time.perf_counter()
            app.run()
            elapsed = time.perf_counter() - start
            assert not app.exception, app.exception
            seconds.append(elapsed)
            cpu.append(script.cpu_seconds)
            script_wall.append(script.wall_seconds)
            ratios.append(elapsed / ((before + _reference()) / 2))
        rows.append((name, seconds, ratios, cpu, script_wall))
        if options.profile:
            options.profile.mkdir(parents=True, exist_ok=True)
            script.profile.dump_stats(options.profile / f"{name.replace(' ', '-')}.prof")
            script.profile = None
    reference = statistics.median(_reference() for _ in range(9))
    print(f"reference workload: {reference * 1000:.1f} ms\n")
    print(
        "| rerun | AppTest ms, median (min-max) | x reference | script's wall ms (server time) "
        "| script's processor ms |"
    )
    print("|---|---|---|---|---|")
    for name, seconds, ratios, cpu, script_wall in rows:
        print(
            f"| {name} | {_spread(seconds, 1000, 0)} | {_spread(ratios, 1, 1)} | {_spread(script_wall, 1000, 0)} "
            f"| {_spread(cpu, 1000, 0)} |"
        )


def _spread(values: list[float], factor: float, digits: int) -> str:
    values = [value * factor for value in values]
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


if __name__ == "__main__":
    main()
