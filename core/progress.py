"""How far a long computation is, in words and as a fraction, and a way to stop it between two model passes.

The thread that computes counts its model passes into a `Progress`; another thread (a page, a command line) reads
`fraction` and `doing`, and may call `stop()`. The batch loops report each pass with `passes_done`, which finds
the computation's Progress in a context variable, so no method has to pass it along; the next pass after
`stop()` raises `Stopped`, and nothing computed so far is returned.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar


class Pace:
    """Images per second and the seconds left, for a progress record with `done` and `total` images and the
    `seconds` it has run (mixed into the batch run's and the evaluation's)."""

    done: int
    total: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float:
        rate = self.images_per_second
        return (self.total - self.done) / rate if rate > 0 else float("nan")


class Stopped(Exception):
    """The computation was stopped on request; nothing it computed is returned."""


class Progress:
    """`doing` in words ("Explaining dog.png with demo-resnet (LIME)"), `total` model passes expected, `done` so
    far, and the stop request. Counts may exceed the estimate; `fraction` stays under 1 until `finish()`."""

    def __init__(self, doing: str = "", total: float = 1.0) -> None:
        self.doing = doing
        self.total = float(total)
        self.done = 0.0
        self.finished = False
        self._stop = threading.Event()

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1; 1 only once finished (an estimate of the passes can be short)."""
        return 1.0 if self.finished else min(self.done / max(self.total, 1.0), 0.99)

    def advance(self, passes: float) -> None:
        """Counts `passes` model passes as done; raises Stopped when a stop was asked for."""
        self.done += passes
        self.check()

    def check(self) -> None:
        if self._stop.is_set():
            raise Stopped(f"{self.doing or 'The computation'} was stopped.")

    def stop(self) -> None:
        """Asks the computation to stop at its next model pass (it may be running in another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def finish(self) -> None:
        self.finished = True


_current: ContextVar[Progress | None] = ContextVar("progress", default=None)


@contextlib.contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Within the block, the batch loops of this thread count their passes into `progress` (None: nobody is
    watching) and stop when it is stopped."""
    token = _current.set(progress)
    try:
        if progress is not None:
            progress.check()
        yield
    finally:
        _current.reset(token)


def passes_done(passes: float) -> None:
    """Called by a batch loop after the model ran on a batch (`passes`: its images, in forward-pass equivalents):
    counts them into the Progress being reported to, if any, and raises Stopped there when a stop was asked for."""
    progress = _current.get()
    if progress is not None:
        progress.advance(passes)


_background: list[tuple[threading.Thread, Progress]] = []
_background_lock = threading.Lock()


def in_background(work: Callable[[Progress], object], name: str, progress: Progress | None = None) -> threading.Thread:
    """Starts work(progress) in a daemon thread whose model passes count into `progress`. When the process ends
    first, it is stopped at its next model pass and waited for: an interpreter that ends while a thread is inside
    TensorFlow aborts ("terminate called after throwing…")."""
    progress = progress or Progress(name)

    def run() -> None:
        try:
            with reporting(progress):
                work(progress)
        except Stopped:
            pass

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _background_lock:
        if not _background:  # once: the list is never empty again
            # Before the interpreter's exit handlers, TensorFlow's and Keras's among them: a thread still tracing
            # a model once they have run fails. The hook concurrent.futures uses for the same reason.
            getattr(threading, "_register_atexit", atexit.register)(_stop_background)
        _background[:] = [(t, p) for t, p in _background if t.is_alive()]
        _background.append((thread, progress))
    thread.start()
    return thread


def _stop_background(wait: float = 60.0) -> None:
    with _background_lock:
        running = [(thread, progress) for thread, progress in _background if thread.is_alive()]
    for _, progress in running:
        progress.stop()
    for thread, _ in running:
        thread.join(wait)
