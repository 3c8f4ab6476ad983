"""Cold start: from `streamlit run` to the first prediction on screen, in a real headless Chromium.

Each repeat starts a fresh server (a new process: nothing loaded, nothing cached but the operating system's file
cache and numba's compiled functions in __pycache__), opens the dashboard as a first visitor does, and times:

- health: the server answers /_stcore/health;
- words: the first sentence that says what is happening (a spinner or progress text in the main area), or the
  title where nothing does;
- prediction: the first model's top class and its probability on the Classification page ("… · 98.2%").

All three count from the moment the server process is started. Chromium is started before the server, as a
visitor's browser is already open. Prints each repeat and the medians.

    .venv/bin/python -m benchmarks.cold_start [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

from benchmarks.browser import CHROMIUM, ROOT, launch_chromium, start_server

PREDICTION = re.compile(r" · \d+\.\d%")  # "dachshund · 98.2%", the verdict beside each model's chart
WAITING_WORDS = "[data-testid=stMain] [data-testid=stSpinner], [data-testid=stMain] [data-testid=stProgress]"


def one_start(browser, log: Path) -> dict[str, float]:
    """Seconds from starting the server to its health check, to the first words on the page, to the first
    prediction."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(180_000)
    with open(log, "w") as output:
        started = time.perf_counter()
        server, url = start_server(output=output)
        try:
            health = time.perf_counter() - started
            page.goto(url)
            main = page.get_by_test_id("stMain")
            page.wait_for_selector(f"{WAITING_WORDS}, [data-testid=stMain] h1")
            words = time.perf_counter() - started
            main.get_by_text(PREDICTION).first.wait_for()
            prediction = time.perf_counter() - started
        finally:
            page.close()
            server.terminate()
            server.wait(timeout=30)
    return {"health": health, "words": words, "prediction": prediction}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("error: Debian's chromium is needed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    log = ROOT / "artifacts" / "cold-start.log"
    log.parent.mkdir(exist_ok=True)
    print(f"load before: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} cores)")
    runs = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for repeat in range(arguments.repeats):
            run = one_start(browser, log)
            runs.append(run)
            print(f"start {repeat + 1}: " + ", ".join(f"{key} {seconds:.1f} s" for key, seconds in run.items()))
        browser.close()
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print("median: " + ", ".join(f"{key} {seconds:.1f} s" for key, seconds in medians.items()))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
