"""Long work in a worker thread while the page says what is being done, how far it is, and offers a Stop.

The page's own thread only watches: it redraws the progress bar a few times a second, which is also where
Streamlit ends a run the user stopped or replaced. A Stop (the button here, or Streamlit's own) asks the work to
stop at its next model pass (core.progress); nothing partial is cached. Any other click only reruns the page: the
work goes on, and the rerun watches it again instead of starting over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from core.progress import Progress, Stopped, in_background

_JOBS = "_waiting_jobs"  # session key: {work key: Job} of this session's work still running or not yet collected
_STOPPED = "_waiting_stopped"  # session key: the requests the user stopped, each shown as stopped until run again
_ASKED = "_waiting_asked"  # session key: the requests the user clicked to run: a rerun meanwhile does not forget it
_DONE = "_waiting_done"  # session key: the work `watched` finished in this session (its results are cached)
REDRAW_SECONDS = 0.25


@dataclass
class Job:
    thread: threading.Thread
    progress: Progress
    outcome: dict[str, Any] = field(default_factory=dict)  # "value" or "error", once the work has ended


def run(
    key: Hashable,
    work: Callable[[Progress], Any],
    progress: Progress,
    show: Callable[[Progress], None],
    request: Hashable | None = None,
) -> Any:
    """work(progress) in a worker thread, or the one already running for `key` in this session (a rerun came while
    it ran); `show(progress)` redraws the page's progress until it ends. Returns its value or raises its error.
    Streamlit's own Stop stops the work and marks `request` stopped, as the Stop button does."""
    jobs = st.session_state.setdefault(_JOBS, {})
    job = jobs.get(key)
    if job is None or job.progress.stopping:
        job = jobs[key] = _start(work, progress)
    try:
        while job.thread.is_alive():
            show(job.progress)  # where Streamlit raises when the run is stopped or replaced by a rerun
            job.thread.join(REDRAW_SECONDS)
    except StopException:  # Streamlit's own Stop: the run ends here, so the work must too
        job.progress.stop()
        jobs.pop(key, None)
        if request is not None:
            st.session_state.setdefault(_STOPPED, set()).add(request)
        raise
    jobs.pop(key, None)
    if "error" in job.outcome:
        raise job.outcome["error"]
    return job.outcome["value"]


def _start(work: Callable[[Progress], Any], progress: Progress) -> Job:
    def target(progress: Progress) -> None:
        add_script_run_ctx(threading.current_thread(), context)  # the work reads this session's models and caches
        try:
            outcome["value"] = work(progress)
        except BaseException as error:  # handed to the page's thread, which raises it
            outcome["error"] = error

    context, outcome = get_script_run_ctx(), {}
    # In the background, so that a server stopping meanwhile stops it at its next model pass and waits for it.
    return Job(in_background(target, progress.doing, progress), progress, outcome)


def stop_all() -> None:
    """Asks every piece of this session's work still running to stop (a Stop button's callback)."""
    for job in st.session_state.get(_JOBS, {}).values():
        job.progress.stop()
    st.session_state[_JOBS] = {}


def stop_button(request: Hashable, key: str) -> None:
    """A Stop button for the work of `request`: stops it and marks the request stopped, so the page does not
    start it again by itself."""
    st.button(
        "Stop",
        key=key,
        icon=":material/stop_circle:",
        on_click=_stop,
        args=(request,),
        help="Stops after the model passes under way; nothing half done is kept.",
    )


def _stop(request: Hashable) -> None:
    stop_all()
    st.session_state.get(_ASKED, set()).discard(request)
    st.session_state.setdefault(_STOPPED, set()).add(request)


def was_stopped(request: Hashable) -> bool:
    return request in st.session_state.get(_STOPPED, set())


def ask_to_run(request: Hashable) -> None:
    """Remembers that the user clicked to run `request` (or a Run again button's callback): a button is true for
    one run only, and a click elsewhere while it computes would otherwise bring the Run button back."""
    st.session_state.get(_STOPPED, set()).discard(request)
    st.session_state.setdefault(_ASKED, set()).add(request)


def was_asked(request: Hashable) -> bool:
    return request in st.session_state.get(_ASKED, set())


def stop_other_work(keep: set) -> None:
    """Stops this session's work that is not for one of the keys in `keep` (the user changed what to compute)."""
    jobs = st.session_state.get(_JOBS, {})
    for key in [key for key in jobs if key not in keep]:
        jobs.pop(key).progress.stop()


def watched(key: Hashable, request: Hashable, doing: str, total: float, work, draw=None) -> Any:
    """work(progress) in the background (`run`) under a progress bar that says `doing` and how far it is, with a
    Stop beside it; `draw(progress, place)` adds to the bar in `place` (e.g. the latest picture). Work done before
    in this session is called again without thread or bar (`work(None)`: its result is cached). None when stopped:
    a note says so, with a button to run it again."""
    done = st.session_state.setdefault(_DONE, set())
    if key in done:
        return work(None)
    if was_stopped(request):
        stopped_note(request, doing)
        return None
    status = st.empty()  # emptied at the end: the bar and the Stop go
    with status.container(horizontal=True, vertical_alignment="center"):
        bar = st.progress(0.0, text=f"{doing}…")
        stop_button(request, key=f"stop_{key}")
    extra = st.empty()

    def show(progress: Progress) -> None:
        bar.progress(progress.fraction, text=f"{doing}: {progress.fraction:.0%}")
        if draw is not None:
            draw(progress, extra)

    try:
        value = run(key, work, Progress(doing, total), show, request)
        done.add(key)
        return value
    except Stopped:
        status.empty()
        extra.empty()
        stopped_note(request, doing)
        return None
    finally:
        status.empty()
        extra.empty()


def stopped_note(request: Hashable, doing: str) -> None:
    """What a Stop left: that `doing` was not finished and nothing half done was kept, and a button to run it
    again."""
    st.info(f"Stopped: {doing[0].lower()}{doing[1:]} was not finished, and nothing half done was kept.")
    st.button("Run again", key=f"run_again_{hash(request)}", type="primary", on_click=ask_to_run, args=(request,))
