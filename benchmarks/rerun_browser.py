"""What a browser waits for after a change on the Saliency page over results already computed: 8 images x 2 models.

Starts `streamlit run` and Debian's Chromium (as tests/test_browser.py does), ticks 8 samples, opens the Saliency
page and computes saliency and Grad-CAM; then, for a plain rerun (the R key), an opacity change (the slider one step
down: a new opacity each time) and a switch back to a method already computed, measures the time from the action
until the page settles (the script has stopped and every picture has arrived) and the bytes of pictures the server
sent for it. Not a test: these machines are shared and the numbers move with their load.

    .venv/bin/python -m benchmarks.rerun_browser [--repeats 5] [--root FOLDER]

--root runs the app of another checkout (e.g. an older commit unpacked with git archive), with this benchmark.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.browser import launch_chromium, start_server

SAMPLES = (0, 1, 2, 3, 8, 9, 10, 11)  # as benchmarks/rerun.py: four generated dogs and the four photos


class _Traffic:
    """What the server sends: its websocket messages (the page's changes, and the end of each run) and its
    pictures (/media/ responses), each with when it arrived, and each picture's size."""

    def __init__(self, page) -> None:
        self.messages: list[float] = []
        self.pictures: list[tuple[float, int]] = []
        page.on("websocket", lambda socket: socket.on("framereceived", self._message))
        page.on("requestfinished", self._finished)

    def _message(self, payload) -> None:
        self.messages.append(time.perf_counter())

    def _finished(self, request) -> None:
        if "/media/" in request.url:
            self.pictures.append((time.perf_counter(), request.sizes()["responseBodySize"]))


def _settle(page, traffic: _Traffic, start: float) -> tuple[float, int]:
    """Seconds from `start` until the last message or picture of the rerun arrived (nothing more for a second, and
    every picture on the page loaded), and the bytes of pictures sent."""
    while True:
        page.wait_for_timeout(50)
        arrivals = [at for at in traffic.messages if at > start] + [at for at, _ in traffic.pictures if at > start]
        last = max(arrivals, default=start)  # nothing at all arrives when the page had settled before `start`
        now = time.perf_counter()
        if now - last > 1.0:
            loaded = page.evaluate(
                "[...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth)"
            )
            if loaded:
                return last - start, sum(size for at, size in traffic.pictures if at > start)
        if now - start > 300:
            raise SystemExit("the page did not settle within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from core.explain import METHODS

    process, url = start_server(options.root)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            traffic = _Traffic(page)
            page.goto(url)
            page.get_by_text("demo-efficientnet", exact=True).first.wait_for()
            _settle(page, traffic, time.perf_counter())
            for index in SAMPLES[2:]:
                page.locator(f".st-key-sample_{index} label").click()
                _settle(page, traffic, time.perf_counter())
            page.get_by_test_id("stSidebarNav").get_by_text("Saliency", exact=True).click()
            saliency, gradcam = METHODS["saliency"].title, METHODS["gradcam"].title
            for title in (gradcam, saliency):  # both computed before anything is measured
                _settle(page, traffic, time.perf_counter())
                page.locator(".st-key-saliency_method").get_by_text(title, exact=True).click()
            _settle(page, traffic, time.perf_counter())
            shown = page.evaluate("document.querySelectorAll('[data-testid=stMain] img').length")
            print(f"Saliency page, {len(SAMPLES)} images x 2 models, {shown} pictures, 1400x1000 window\n")

            # Each change returns when it was made: the switch back is timed from the click back only.
            def plain() -> float:
                page.locator("h1").first.click()  # the focus off any widget, so R reruns the page
                start = time.perf_counter()
                page.keyboard.press("r")
                return start

            def opacity() -> float:
                start = time.perf_counter()
                page.locator(".st-key-saliency_opacity input[type=range]").press("ArrowLeft")  # a new opacity each time
                return start

            def switch_back() -> float:
                page.locator(".st-key-saliency_method").get_by_text(gradcam, exact=True).click()
                _settle(page, traffic, time.perf_counter())
                start = time.perf_counter()
                page.locator(".st-key-saliency_method").get_by_text(saliency, exact=True).click()
                return start

            print("| change | until settled, ms, median (min-max) | picture bytes sent, median |")
            print("|---|---|---|")
            for name, change in [("plain rerun", plain), ("opacity change", opacity), ("switch back", switch_back)]:
                seconds, sent = [], []
                for _ in range(options.repeats):
                    start = change()
                    took, size = _settle(page, traffic, start)
                    seconds.append(took * 1000)
                    sent.append(size)
                print(
                    f"| {name} | {statistics.median(seconds):.0f} ({min(seconds):.0f}-{max(seconds):.0f}) "
                    f"| {statistics.median(sent) / 1000:.0f} kB |"
                )
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
