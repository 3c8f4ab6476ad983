"""A batch run from start to end: what is left to compute, the engine, the part files as rows finish, progress,
and the table and manifest at the end, also when the run is cut short."""

from __future__ import annotations

import datetime
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.batch import table
from core.batch.inputs import BatchImage
from core.batch.job import Job
from core.errors import UserError
from core.progress import Pace

ENGINES = ("local", "ray")


@dataclass
class Progress(Pace):
    """How far a run is: images finished of those it computes, rows that failed, and the pace so far."""

    done: int = 0
    total: int = 0
    failures: int = 0
    rows: int = 0
    seconds: float = 0.0
    # (seconds since the start, images done) at each finished chunk: the benchmark's steady state
    timeline: list[tuple[float, int]] = field(default_factory=list)

    def sentence(self) -> str:
        left = f", about {self.seconds_left:.0f} s left" if 0 < self.done < self.total else ""
        return (
            f"explained {self.done:,} of {self.total:,} images ({self.images_per_second:.1f} per second{left}); "
            f"{self.failures:,} rows failed so far"
        )


@dataclass(frozen=True)
class Summary:
    """What a run did: rows computed now and skipped as done before, the table's counts, and its progress."""

    out: Path
    computed: int
    skipped: int
    counts: dict
    interrupted: bool
    progress: Progress

    def as_json(self) -> dict:
        return {
            "out": str(self.out),
            "rows_computed": self.computed,
            "rows_already_done": self.skipped,
            **self.counts,
            "images_per_second": round(self.progress.images_per_second, 3),
            "interrupted": self.interrupted,
        }


def plan(job: Job, images: Sequence[BatchImage]) -> tuple[list[BatchImage], list[list[tuple[int, str]]], int]:
    """The images with something left to compute, each with its (model index, method) pairs, and the number of
    rows already done: a row is done when the table holds it with status ok for the same image, model stamp,
    method and parameters."""
    done = table.done_keys(job.out)
    pending, todo, skipped = [], [], 0
    for image in images:
        pairs = [
            (m, method)
            for m, method in job.pairs()
            if table.key_of(image.path, job.stamps[m], method, job.params_json(method)) not in done
        ]
        skipped += len(job.pairs()) - len(pairs)
        if pairs:
            pending.append(image)
            todo.append(pairs)
    return pending, todo, skipped


def _versions(engine: str) -> dict:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    packages = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pyarrow", "pandas", "ray")
    for package in packages if engine == "ray" else packages[:-1]:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def run_batch(
    job: Job,
    images: Sequence[BatchImage],
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    data: str = "",
    progress: Callable[[Progress], None] | None = None,
) -> Summary:
    """Computes the rows of `job` on `images` that the output folder lacks or holds as failed, with `engine`;
    writes a part file per finished chunk and, at the end or when interrupted, explanations.parquet and
    manifest.json."""
    if engine not in ENGINES:
        raise UserError(f"--engine must be local or ray, not {engine}.")
    if address is not None and engine != "ray":
        raise UserError("--address names a Ray cluster; give it with --engine ray.")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}.")
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    started_at, started = _now(), time.perf_counter()
    pending, todo, skipped = plan(job, images)
    state = Progress(total=len(pending))

    def emit(rows: list[dict]) -> None:
        if not rows:
            return
        table.write_part(out, table.as_arrow(rows))
        state.done += len({row["image"] for row in rows})
        state.rows += len(rows)
        state.failures += sum(row["status"] != table.OK for row in rows)
        state.seconds = time.perf_counter() - started
        state.timeline.append((state.seconds, state.done))
        if progress is not None:
            progress(state)

    interrupted = True
    try:
        if pending and engine == "local":
            from core.batch.local import run_local

            run_local(job, pending, todo, emit, workers=workers)
        elif pending:
            from core.batch.ray_engine import run_ray

            run_ray(job, pending, todo, emit, address=address, workers=workers)
        interrupted = False
    finally:
        rows = table.combine(out)
        counts = {
            "rows": len(rows),
            "ok": int((rows["status"] == table.OK).sum()),
            "error": int((rows["status"] != table.OK).sum()),
            "images": int(rows["image"].nunique()),
        }
        table.write_manifest(
            out,
            {
                "versions": _versions(engine),
                "engine": engine,
                "address": address,
                "workers": workers,
                "data": data,
                "models": [
                    {"name": spec.name, "path": str(spec.path), "stamp": stamp}
                    for spec, stamp in zip(job.specs, job.stamps, strict=True)
                ],
                "methods": {method: job.params.get(method, {}) for method in job.methods},
                "metrics": job.metrics,
                "started": started_at,
                "ended": _now(),
                "seconds": round(time.perf_counter() - started, 3),
                "counts": {**counts, "computed_now": state.rows, "already_done": skipped},
                "interrupted": interrupted,
            },
        )
    return Summary(out, state.rows, skipped, counts, interrupted, state)
