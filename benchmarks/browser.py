"""A dashboard server and a headless Chromium on this machine, started the same way by the browser tests
(tests/test_browser.py) and the browser benchmarks (cold_start.py, rerun_browser.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def start_server(root: Path = ROOT, output=subprocess.DEVNULL, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """`streamlit run dashboard/app.py` of the checkout at `root` on a free local port, its output to `output`;
    returns once it answers its health check, with its URL. RuntimeError (the server killed) after `timeout` s."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false"],
        cwd=root, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s")


def launch_chromium(playwright):
    """Debian's Chromium, headless, with nothing of its own reaching outside the machine."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
