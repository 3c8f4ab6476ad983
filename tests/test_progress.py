"""Progress and stopping of an explanation: counted pass by pass, stopped between two batches, nothing returned."""

import numpy as np
import pytest

from core import dataset
from core.explain import METHODS, expected_passes, explain_images
from core.progress import Progress, Stopped, passes_done, reporting


@pytest.fixture(scope="module")
def resnet():
    from core.scoring import load_model

    return load_model("demo-resnet")


IMAGES = [dataset.generate(seed, 1).pixels for seed in (3, 4)]


class Watcher(Progress):
    """Records the fraction after every batch; asks to stop after `stop_after` batches."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__("Explaining")
        self.stop_after = stop_after
        self.seen: list[float] = []

    def advance(self, passes: float) -> None:
        self.done += passes
        self.seen.append(self.fraction)
        if self.stop_after is not None and len(self.seen) >= self.stop_after:
            self.stop()
        self.check()


@pytest.mark.parametrize(
    "method, params",
    [
        ("smoothgrad", {"samples": 8, "batch_size": 4}),
        ("integrated-gradients", {"steps": 4}),
        ("lime", {"num_samples": 30, "batch_size": 10}),
    ],
)
def test_every_model_pass_is_counted_and_the_fraction_rises_to_one(resnet, method, params):
    watcher = Watcher()
    results = explain_images(resnet, IMAGES, method, params=params, progress=watcher)
    assert len(results) == 2
    assert watcher.total == expected_passes(METHODS[method], params, 2)
    assert watcher.seen == sorted(watcher.seen) and len(watcher.seen) >= 3 and watcher.seen[-1] < 1
    assert watcher.done == watcher.total  # the estimate is exact
    assert watcher.fraction == 1.0


@pytest.mark.parametrize(
    "method, params", [("smoothgrad", {"samples": 8, "batch_size": 4}), ("lime", {"num_samples": 40, "batch_size": 10})]
)
def test_a_stop_ends_the_run_after_the_current_batch_and_returns_nothing(resnet, method, params):
    watcher = Watcher(stop_after=2)
    with pytest.raises(Stopped):
        explain_images(resnet, IMAGES, method, params=params, progress=watcher)
    assert len(watcher.seen) == 2  # the batch under way finished, no other began
    # Stopping left the model as it was: the same request without a stop gives the plain answer.
    again = explain_images(resnet, IMAGES, method, params=params, progress=Progress())
    plain = explain_images(resnet, IMAGES, method, params=params)
    for one, other in zip(again, plain, strict=True):
        np.testing.assert_array_equal(one.map, other.map)


def test_a_progress_stopped_before_the_start_runs_nothing(resnet):
    progress = Progress()
    progress.stop()
    with pytest.raises(Stopped):
        explain_images(resnet, IMAGES, "saliency", progress=progress)
    assert progress.done == 0


def test_passes_outside_a_watched_block_are_not_counted():
    progress = Progress(total=10)
    passes_done(4)  # nobody is watching: nothing counted, nothing raised
    with reporting(progress):
        passes_done(4)
    passes_done(4)
    assert progress.done == 4 and progress.fraction == 0.4


def test_background_work_is_stopped_at_its_next_pass_and_waited_for_when_the_process_ends(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    # The work would run for a minute; the process ends at once. Unstopped, a daemon thread is dropped mid-work (no
    # `finally`), which inside TensorFlow aborts the process or fails on what Keras's exit handlers cleaned up.
    marker = tmp_path / "ended"
    script = (
        "import time\n"
        "from core.progress import in_background, passes_done\n"
        "def work(progress):\n"
        "    try:\n"
        "        for _ in range(1200):\n"
        "            time.sleep(0.05)\n"
        "            passes_done(1)\n"
        "    finally:\n"
        f"        open({str(marker)!r}, 'w').write(f'stopped after {{progress.done:.0f}} passes')\n"
        "in_background(work, 'a minute of work')\n"
        "time.sleep(0.5)\n"
    )
    root = Path(__file__).resolve().parent.parent
    ended = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert ended.returncode == 0, ended.stderr[-2000:]
    assert "Traceback" not in ended.stderr, ended.stderr[-2000:]
    passes = int(marker.read_text().split()[2])
    assert 1 <= passes < 100  # stopped soon after the end, not run to its end
