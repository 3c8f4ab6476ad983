"""The results table of a batch run: its columns, the part files written as rows finish, and the one table they
are combined into.

Rows are written in part files (`parts/part-….parquet`, each written under a temporary name and renamed, so a
killed run never leaves half a part) and combined into `explanations.parquet` at the end of a run, or by
`read_table` when a run was cut short. A row's key is (image, model stamp, method, parameters): the same key
twice keeps the last `ok` row, else the last row.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TABLE = "explanations.parquet"
MANIFEST = "manifest.json"
PARTS = "parts"
METRIC_PREFIX = "metric_"  # trust metrics, one float column each
KEY = ("image", "model_stamp", "method", "params")
OK, ERROR = "ok", "error"
INTEGERS = ("width", "height", "target")

COLUMNS = pa.schema(
    [
        ("image", pa.string()),  # absolute path
        ("name", pa.string()),  # the path as shown: inside the folder or set, or as the glob matched it
        ("sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("true_label", pa.string()),
        ("model", pa.string()),
        ("model_stamp", pa.string()),  # the model file and its choices (core.evaluation.scoring.model_stamp)
        ("method", pa.string()),
        ("params", pa.string()),  # every parameter of the method, defaults included, as JSON with sorted keys
        ("target", pa.int32()),  # the class explained: the predicted one
        ("target_label", pa.string()),
        ("predicted_label", pa.string()),
        ("probability", pa.float64()),  # of the predicted class
        ("x0", pa.float64()),  # the box fitted to the map, in the image's pixels, x1 and y1 exclusive
        ("y0", pa.float64()),
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("map", pa.string()),  # relative to the output folder: maps/…npy, float16, the model's input size
        ("overlay", pa.string()),  # overlays/…png
        ("seconds", pa.float64()),  # this row's share of its chunk's time
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)


def schema_of(rows: list[dict]) -> pa.Schema:
    """The columns, plus one float column per trust metric the rows carry."""
    metrics = sorted({key for row in rows for key in row if key.startswith(METRIC_PREFIX)})
    return pa.schema([*COLUMNS, *(pa.field(name, pa.float64()) for name in metrics)])


def as_arrow(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema_of(rows))


def key_of(image: str, stamp: str, method: str, params: str) -> tuple[str, str, str, str]:
    return (image, stamp, method, params)


def write_part(out: Path, table: pa.Table) -> Path:
    """One part file of finished rows, renamed into place once complete."""
    folder = Path(out) / PARTS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
    scratch = folder / f".{name}.tmp"
    pq.write_table(table, scratch)
    os.replace(scratch, folder / name)
    return folder / name


def _part_files(out: Path) -> list[Path]:
    folder = Path(out) / PARTS
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_table(out: str | Path) -> pd.DataFrame:
    """Every row of the output folder, finished runs and parts of cut-short ones alike, one per key (the last
    `ok` row, else the last row), in a stable order; an empty frame with the columns when there is none."""
    out = Path(out)
    frames = []
    if (out / TABLE).is_file():
        frames.append(pd.read_parquet(out / TABLE))
    frames += [pd.read_parquet(part) for part in _part_files(out)]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return COLUMNS.empty_table().to_pandas().astype({name: "Int32" for name in INTEGERS})
    rows = pd.concat(frames, ignore_index=True)
    rows["_ok"] = rows["status"] == OK
    rows["_order"] = range(len(rows))
    rows = rows.sort_values(["_ok", "_order"], kind="stable").drop_duplicates(list(KEY), keep="last")
    rows = rows.drop(columns=["_ok", "_order"])
    rows = rows.astype({name: "Int32" for name in INTEGERS})  # whole numbers stay whole where some are missing
    return rows.sort_values(["name", "model", "method", "params"], kind="stable").reset_index(drop=True)


def done_keys(out: str | Path) -> set[tuple[str, str, str, str]]:
    """The keys of the rows that finished well: a rerun computes every other one."""
    rows = read_table(out)
    rows = rows[rows["status"] == OK]
    return set(zip(*(rows[column] for column in KEY), strict=True))


def combine(out: str | Path) -> pd.DataFrame:
    """Combines every part into explanations.parquet (written under a temporary name and renamed) and removes
    the parts it holds now; returns the table."""
    out = Path(out)
    parts = _part_files(out)
    rows = read_table(out)
    scratch = out / f".{TABLE}.tmp"
    table = pa.Table.from_pandas(rows, schema=schema_of([dict.fromkeys(rows.columns)]), preserve_index=False)
    pq.write_table(table, scratch)
    os.replace(scratch, out / TABLE)
    for part in parts:
        part.unlink(missing_ok=True)
    return rows


def write_manifest(out: str | Path, manifest: dict) -> None:
    """manifest.json, with this run appended to the runs before it."""
    path = Path(out) / MANIFEST
    runs = []
    if path.is_file():
        try:
            runs = list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
        except (OSError, ValueError, AttributeError):
            runs = []
    this_run = {key: manifest.get(key) for key in ("engine", "started", "ended", "counts", "interrupted")}
    scratch = path.with_name(f".{MANIFEST}.tmp")
    scratch.write_text(json.dumps({**manifest, "runs": [*runs, this_run]}, indent=1), encoding="utf-8")
    os.replace(scratch, path)


def read_manifest(out: str | Path) -> dict:
    path = Path(out) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
