"""Reading a batch run's output for people: the folder (or its zip), its rows filtered, the summary per model and
method, and a row's map and overlay, never a file outside the folder."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.batch.table import MANIFEST, METRIC_PREFIX, OK, PARTS, TABLE, read_manifest, read_table
from core.errors import ModelError, UserError

MAX_ZIP_BYTES = 4 * 2**30  # unpacked


class ResultsError(UserError):
    """An output folder or zip that cannot be opened as a batch run's results."""


@dataclass(frozen=True)
class BatchResults:
    folder: Path
    rows: pd.DataFrame
    manifest: dict

    @property
    def metrics(self) -> list[str]:
        return [column for column in self.rows.columns if column.startswith(METRIC_PREFIX)]


def _holds_results(folder: Path) -> bool:
    return (folder / TABLE).is_file() or (folder / PARTS).is_dir()


def open_results(folder: str | Path) -> BatchResults:
    """The results in `folder` (or in the one folder it holds, as a zip unpacks), a cut-short run's parts
    included; ResultsError in one sentence when there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ResultsError(f"There is no folder at {folder}; give the --out folder of a batch run.")
    if not _holds_results(folder):
        inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
        if len(inner) == 1 and _holds_results(inner[0]):
            folder = inner[0]
        else:
            raise ResultsError(
                f"{folder} holds no batch results ({TABLE}); give the --out folder of `python -m core batch`."
            )
    try:
        rows = read_table(folder)
    except Exception as error:  # noqa: BLE001 - a damaged table is one sentence, whatever pyarrow says
        raise ResultsError(f"The results in {folder} cannot be read ({type(error).__name__}: {error}).") from error
    return BatchResults(folder, rows, read_manifest(folder) if (folder / MANIFEST).is_file() else {})


def extract_results_zip(data: bytes, folder: Path) -> Path:
    """Unpacks a zipped output folder into `folder` after the checks every zip gets here (members outside it,
    links, too many files, bombs; core.model_safety.check_zip), before anything is written."""
    from core.model_safety import check_zip

    folder.mkdir(parents=True, exist_ok=True)
    archive = folder.with_suffix(".zip")
    archive.write_bytes(data)
    try:
        try:
            check_zip(archive, MAX_ZIP_BYTES)
        except ModelError as error:
            raise ResultsError(str(error).replace(archive.name, "The zip", 1)) from error
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder)
    finally:
        archive.unlink(missing_ok=True)
    return folder


def inside(folder: Path, relative) -> Path | None:
    """`relative` (a row's map or overlay) under `folder`, or None when it is missing or leads outside it."""
    if not isinstance(relative, str) or not relative:
        return None
    base = folder.resolve()
    candidate = (base / relative).resolve()
    return candidate if base in candidate.parents and candidate.is_file() else None


def filtered(
    rows: pd.DataFrame,
    models: list[str] | None = None,
    methods: list[str] | None = None,
    statuses: list[str] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """The rows of the chosen models, methods and statuses (None: all) whose numbers lie in `ranges` (inclusive;
    a row without that number is kept only when the range is the column's whole span)."""
    keep = pd.Series(True, index=rows.index)
    for column, chosen in (("model", models), ("method", methods), ("status", statuses)):
        if chosen is not None:
            keep &= rows[column].isin(chosen)
    for column, (low, high) in (ranges or {}).items():
        values = rows[column].astype(float)
        whole = values.min() >= low and values.max() <= high
        keep &= values.between(low, high) | (values.isna() & whole)
    return rows[keep]


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and method: rows, how many failed, mean probability of the predicted class, mean seconds per
    image and the mean of each trust metric."""
    if rows.empty:
        return pd.DataFrame(columns=["model", "method", "images", "failed", "mean probability", "seconds per image"])
    metrics = [column for column in rows.columns if column.startswith(METRIC_PREFIX)]
    grouped = rows.assign(failed=rows["status"] != OK).groupby(["model", "method"], sort=True)
    table = grouped.agg(
        images=("image", "size"),
        failed=("failed", "sum"),
        **{"mean probability": ("probability", "mean"), "seconds per image": ("seconds", "mean")},
        **{f"mean {column.removeprefix(METRIC_PREFIX)}": (column, "mean") for column in metrics},
    )
    return table.reset_index()


def map_array(folder: Path, relative) -> np.ndarray | None:
    """A row's raw map as float32, or None when the file is missing or outside the folder."""
    path = inside(folder, relative)
    if path is None:
        return None
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError):
        return None
