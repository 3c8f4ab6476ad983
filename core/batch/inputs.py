"""The images of a batch run: a folder (every image under it), a CSV or annotations.json as the evaluation reads
them (with their true labels), one image file, or a glob pattern."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from core.evaluation.data import IMAGE_SUFFIXES, DataError, read_set

GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class BatchImage:
    """One image to explain: its absolute path (the row's key), the name shown, its true label where the set
    says it, for an entry the set names but that cannot be read at all, why, and where the set knows where the
    object is, its box [x0, y0, x1, y1) in the image's pixels and a generated set's part and distractor masks
    (the localisation metrics' truth, core.trust.summary.labelled_truth)."""

    path: str
    name: str
    true_label: str | None = None
    error: str | None = None
    box: tuple[float, float, float, float] | None = None
    parts: str | None = None
    distractors: str | None = None


def find_images(data: str | Path) -> list[BatchImage]:
    """The images `data` names, in a stable order; DataError in one sentence when it names none."""
    text = str(data)
    path = Path(text).expanduser()
    if not path.exists() and any(c in text for c in GLOB_CHARACTERS):
        return _globbed(text)
    if not path.exists():
        raise DataError(f"There is no file or folder at {path}; give a folder, a CSV, annotations.json or a glob.")
    if path.is_file():
        if path.suffix.lower() == ".csv" or path.name == "annotations.json":
            return _from_set(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return [BatchImage(str(path.absolute()), path.name)]
        raise DataError(
            f"{path.name} is neither an image nor a labelled set; give a folder, a CSV (file,label), "
            "annotations.json or a glob such as 'photos/**/*.jpg'."
        )
    tables = [p for p in path.glob("*.csv") if not p.name.startswith(".")]
    if (path / "annotations.json").is_file() or len(tables) == 1:
        return _from_set(path)
    found = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not found:
        raise DataError(f"{path} holds no image file ({', '.join(IMAGE_SUFFIXES)}), in it or in its subfolders.")
    return [BatchImage(str(p.absolute()), p.relative_to(path).as_posix()) for p in found]


def _globbed(pattern: str) -> list[BatchImage]:
    matches = sorted(Path(m) for m in glob.glob(str(Path(pattern).expanduser()), recursive=True))
    images = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise DataError(f"The pattern {pattern} matches no image file ({', '.join(IMAGE_SUFFIXES)}).")
    return [BatchImage(str(m.absolute()), m.as_posix()) for m in images]


def _from_set(path: Path) -> list[BatchImage]:
    """A CSV or annotations.json read as the evaluation reads it, with the boxes and masks it gives; the entries it
    names but cannot use become images with their reason, so they are rows with an error rather than lost."""
    labelled = read_set(path)
    images = [
        BatchImage(
            str(i.path.absolute()),
            i.name,
            i.label,
            box=None if i.box is None else tuple(float(v) for v in i.box),
            parts=None if i.parts is None else str(i.parts),
            distractors=None if i.distractors is None else str(i.distractors),
        )
        for i in labelled.images
    ]
    root = labelled.root.absolute()
    images += [BatchImage(str(root / name), name, None, reason) for name, reason in labelled.unreadable]
    return images
