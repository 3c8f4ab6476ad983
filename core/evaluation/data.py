"""Labelled image sets: reading them (a folder per class, a CSV, the generator's annotations.json, a zip of
any of these), the bundled set made on first use, and mapping a set's class names onto a model's labels.

Every image a set names is a file under the set's folder; a path that leads outside it (`../`, an absolute
path, a link) is listed as unreadable rather than read. Problems with the set as a whole are one sentence
(`DataError`); a single missing or broken image never stops anything (`LabelledSet.unreadable`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ModelError, UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
MAX_IMAGES = 50_000
MAX_ZIP_BYTES = 2 * 2**30  # unpacked
# A set no bundled model was trained (1), validated (2) or sampled (7) on, nor the box benchmark's (3).
BUNDLED_SEED = 23
BUNDLED_COUNT = 200
BUNDLED_NAME = f"generated dogs, set {BUNDLED_SEED}"
CACHE_VARIABLE = "EXPLAIN_CACHE"  # where the bundled set is written on first use (default ~/.cache/…)


class DataError(UserError):
    """A labelled set that cannot be read or mapped onto a model's labels."""


@dataclass(frozen=True)
class LabelledImage:
    """One image of a set: its file, the name shown (its path inside the set), its class name in the set, and
    where known its true box [x0, y0, x1, y1) in the image's pixels and its part and distractor mask files."""

    path: Path
    name: str
    label: str
    box: tuple[int, int, int, int] | None = None
    parts: Path | None = None
    distractors: Path | None = None


@dataclass(frozen=True)
class LabelledSet:
    """The readable images of a set, its class names (in the set's order), and one sentence per image that was
    named but cannot be read."""

    name: str
    root: Path
    kind: str  # "folders", "csv", "annotations"
    images: tuple[LabelledImage, ...]
    classes: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...] = ()  # (name, reason)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for image in self.images:
            counts[image.label] += 1
        return counts


def read_set(path: str | Path, name: str | None = None) -> LabelledSet:
    """The labelled set at `path`: a folder with annotations.json, a CSV file (or a folder holding exactly one),
    or a folder with one subfolder per class. A zip must be extracted first (`extract_zip`)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"There is no file or folder at {path}; check the path.")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return _read_csv(path, name or path.stem)
        if path.name == "annotations.json":
            return _read_annotations(path, name or path.parent.name)
        if path.suffix.lower() == ".zip":
            raise DataError(f"{path.name} is a zip; give the folder it unpacks to, or upload it in the dashboard.")
        raise DataError(
            f"{path.name} is not a labelled set; give a folder with one subfolder per class, a CSV with the columns "
            "file,label, or a folder with annotations.json."
        )
    folder = _single_subfolder(path)
    name = name or folder.name
    if (folder / "annotations.json").is_file():
        return _read_annotations(folder / "annotations.json", name)
    tables = sorted(p for p in folder.glob("*.csv") if not p.name.startswith("."))
    if len(tables) == 1:
        return _read_csv(tables[0], name)
    if len(tables) > 1:
        raise DataError(f"{folder.name} holds {len(tables)} CSV files; give the one that lists the images.")
    return _read_folders(folder, name)


def _single_subfolder(folder: Path) -> Path:
    """A folder that holds only one folder (as many zips do) stands for that folder."""
    while True:
        entries = [p for p in folder.iterdir() if not _hidden(p.name)]
        if len(entries) == 1 and entries[0].is_dir() and not _has_images(folder):
            inner = entries[0]
            # One class folder alone is still a set of one class: only descend when the inner folder is a set.
            if (inner / "annotations.json").is_file() or any(inner.glob("*.csv")) or _subfolders(inner):
                folder = inner
                continue
        return folder


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p.name))


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def _inside(root: Path, relative: str) -> Path | None:
    """`relative` under `root`, or None when it leads outside it (`..`, an absolute path, a link out)."""
    if not relative or os.path.isabs(relative) or re.match(r"^[A-Za-z]:", relative):
        return None
    candidate = (root / relative).resolve()
    base = root.resolve()
    return candidate if candidate == base or base in candidate.parents else None


def _finish(name: str, root: Path, kind: str, images: list, classes: list[str], unreadable: list) -> LabelledSet:
    if not images:
        detail = f" ({unreadable[0][0]}: {unreadable[0][1]})" if unreadable else ""
        raise DataError(f"The set {name} holds no readable labelled image{detail}.")
    if len(images) > MAX_IMAGES:
        raise DataError(f"The set {name} holds {len(images):,} images; this app evaluates at most {MAX_IMAGES:,}.")
    used = {image.label for image in images}
    return LabelledSet(name, root, kind, tuple(images), tuple(c for c in classes if c in used), tuple(unreadable))


def _read_folders(folder: Path, name: str) -> LabelledSet:
    """One subfolder per class, images anywhere inside it (as keras `image_dataset_from_directory` reads it)."""
    classes = _subfolders(folder)
    if not classes:
        raise DataError(
            f"{folder.name} has no subfolders; a labelled set is a folder with one subfolder per class, a CSV with "
            "the columns file,label, or a folder with annotations.json."
        )
    images, unreadable = [], []
    root = folder.resolve()
    for class_folder in classes:
        for path in sorted(class_folder.rglob("*")):
            if any(_hidden(part) for part in path.relative_to(folder).parts) or not path.is_file():
                continue
            shown = path.relative_to(folder).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if path.is_symlink() or _inside(root, shown) is None:
                unreadable.append((shown, "a link that leads outside the set; it was not read"))
                continue
            images.append(LabelledImage(path, shown, class_folder.name))
    return _finish(name, folder, "folders", images, [c.name for c in classes], unreadable)


def _read_csv(table: Path, name: str) -> LabelledSet:
    """A CSV with a header naming `file` and `label`, and optionally `x0,y0,x1,y1` (the true box); paths are
    relative to the CSV's folder."""
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{table.name} cannot be read as UTF-8 text ({error}).") from error
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DataError(f"{table.name} is empty; it should start with the header file,label.")
    header = [cell.strip().lower() for cell in rows[0]]
    if "file" not in header or "label" not in header:
        raise DataError(
            f"{table.name} should start with a header naming the columns file and label (and optionally x0,y0,x1,y1); "
            f"its first line is {','.join(rows[0])[:80]}."
        )
    column = {key: header.index(key) for key in ("file", "label", "x0", "y0", "x1", "y1") if key in header}
    has_box = all(key in column for key in ("x0", "y0", "x1", "y1"))
    root = table.parent
    images, unreadable, classes = [], [], []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        file, label = cells[column["file"]].strip(), cells[column["label"]].strip()
        shown = file or f"line {number}"
        if not file or not label:
            unreadable.append((shown, f"line {number} of {table.name} has no {'file' if not file else 'label'}"))
            continue
        path = _inside(root, file)
        if path is None:
            unreadable.append((shown, "its path leads outside the CSV's folder; it was not read"))
            continue
        box = None
        if has_box:
            try:
                box = tuple(int(round(float(cells[column[k]]))) for k in ("x0", "y0", "x1", "y1"))
            except ValueError:
                box = None  # a row without a box is still a labelled image
        if label not in classes:
            classes.append(label)
        images.append(LabelledImage(path, file, label, box))
    return _finish(name, root, "csv", images, sorted(classes), unreadable)


def _read_annotations(annotations: Path, name: str) -> LabelledSet:
    """The generator's annotations.json (core/dataset.py `write_dataset`): file, label, box, parts_file,
    distractors_file."""
    try:
        entries = json.loads(annotations.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{annotations.name} is not readable JSON ({error}).") from error
    if not isinstance(entries, list):
        raise DataError(f'{annotations.name} should hold a list of {{"file": …, "label": …}} entries.')
    root = annotations.parent
    classes: list[str] = []
    meta = root / "dataset.json"
    if meta.is_file():
        try:
            classes = [str(c) for c in json.loads(meta.read_text(encoding="utf-8")).get("labels", [])]
        except (OSError, ValueError, AttributeError):
            classes = []
    images, unreadable = [], []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or entry.get("label") is None:
            unreadable.append((f"entry {number}", f"entry {number} of {annotations.name} has no file or label"))
            continue
        file, label = entry["file"], str(entry["label"])
        path = _inside(root, file)
        if path is None:
            unreadable.append((file, "its path leads outside the set's folder; it was not read"))
            continue
        box = entry.get("box")
        box = tuple(int(v) for v in box) if isinstance(box, list) and len(box) == 4 else None
        parts, distractors = (
            _inside(root, entry[key]) if isinstance(entry.get(key), str) else None
            for key in ("parts_file", "distractors_file")
        )
        if label not in classes:
            classes.append(label)
        images.append(LabelledImage(path, file, label, box, parts, distractors))
    return _finish(name, root, "annotations", images, classes, unreadable)


def extract_zip(data_or_path: bytes | str | Path, folder: Path, *, max_bytes: int = MAX_ZIP_BYTES) -> Path:
    """Unpacks a zipped set into `folder` (which must be empty or new) after refusing, before anything is written,
    members outside it, links, more than `max_bytes` unpacked and zip bombs; returns the folder."""
    from core.model_safety import check_zip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data_or_path, bytes):
        archive_path = folder.parent / f"{folder.name}.zip"
        archive_path.write_bytes(data_or_path)
    else:
        archive_path = Path(data_or_path)
    try:
        try:
            with zipfile.ZipFile(archive_path) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
        except (zipfile.BadZipFile, OSError) as error:
            raise DataError(f"The upload is not a readable zip file ({error}).") from error
        if unpacked > max_bytes:
            raise DataError(
                f"The zip unpacks to {unpacked / 1e6:,.0f} MB, more than the {max_bytes / 1e6:,.0f} MB this app "
                "unpacks; evaluate a smaller set, or give its folder on the server."
            )
        try:
            check_zip(archive_path, max_bytes)  # paths outside the folder, links, too many members, bombs
        except ModelError as error:
            raise DataError(str(error).replace(archive_path.name, "The zip", 1)) from error
        with zipfile.ZipFile(archive_path) as archive:
            archive.extractall(folder)
    finally:
        if isinstance(data_or_path, bytes):
            archive_path.unlink(missing_ok=True)
    return folder


def cache_folder() -> Path:
    """Where generated files are kept between runs: $EXPLAIN_CACHE, else ~/.cache/classifier-explanations."""
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "classifier-explanations"


def bundled_set_path(count: int = BUNDLED_COUNT, seed: int = BUNDLED_SEED) -> Path:
    """The folder of the bundled labelled set (generated dogs with boxes and part masks), written on first use
    (about 5 s for 200 images) into a fresh folder that is renamed into place, so a half-written set is never read."""
    from core import dataset

    target = cache_folder() / f"evaluation-set-{seed}-{count}"
    if (target / "annotations.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        dataset.write_dataset(scratch, count, seed)
        try:
            scratch.rename(target)
        except OSError:  # another process finished first: theirs is the same set
            if not (target / "annotations.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def bundled_set(count: int = BUNDLED_COUNT, seed: int = BUNDLED_SEED) -> LabelledSet:
    """The default set: `count` generated dachshund and other-dog pictures of a set no bundled model saw."""
    name = BUNDLED_NAME if (count, seed) == (BUNDLED_COUNT, BUNDLED_SEED) else f"generated dogs, set {seed}"
    return read_set(bundled_set_path(count, seed), name)


# --- class names onto a model's labels -------------------------------------------------------------------


def _loose(text: str) -> str:
    """Case, spaces, hyphens and underscores ignored: 'Other_Dog' and 'other dog' match."""
    return re.sub(r"[\s_\-]+", "", text).casefold()


@dataclass(frozen=True)
class LabelMapping:
    """Each of a set's class names and the model label it means (None: not matched)."""

    model: str
    pairs: dict[str, str | None] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)  # class -> "exact", "loose" or "by hand"

    @property
    def unmatched(self) -> list[str]:
        """The classes neither matched nor mapped by hand nor left out on purpose."""
        return [name for name, label in self.pairs.items() if label is None and self.how.get(name) != "left out"]

    @property
    def complete(self) -> bool:
        return not self.unmatched

    def sentence(self, labels: tuple[str, ...], how: str = "by hand (--map NAME=LABEL on the command line)") -> str:
        """One sentence naming what did not match, with both sides, and `how` to map it; empty when complete."""
        if self.complete:
            return ""
        shown = labels if len(labels) <= 12 else (*labels[:12], f"… ({len(labels):,} in all)")
        missing = ", ".join(f"“{name}”" for name in self.unmatched)
        several = len(self.unmatched) > 1
        return (
            f"The set's class{'es' if several else ''} {missing} match{'' if several else 'es'} none of "
            f"{self.model}'s labels ({', '.join(shown)}); map {'them' if several else 'it'} {how}."
        )


def map_labels(
    classes: tuple[str, ...] | list[str],
    labels: tuple[str, ...],
    model: str,
    by_hand: dict[str, str] | None = None,
    left_out: tuple[str, ...] = (),
) -> LabelMapping:
    """Each set class onto one of the model's `labels`: by hand where given, else the same name, else the same
    name ignoring case, spaces and underscores (when exactly one label matches so); the classes `left_out` map to
    nothing, and their images are not evaluated. DataError for a hand mapping to a label the model does not have,
    or of a class the set does not have."""
    by_hand = dict(by_hand or {})
    for name, label in by_hand.items():
        if name not in classes:
            raise DataError(
                f"--map {name}={label}: the set has no class “{name}”; its classes are {', '.join(classes)}."
            )
        if label not in labels:
            shown = ", ".join(labels[:12]) + (" …" if len(labels) > 12 else "")
            raise DataError(f"--map {name}={label}: {model} has no label “{label}”; its labels are {shown}.")
    loose: dict[str, list[str]] = {}
    for label in labels:
        loose.setdefault(_loose(label), []).append(label)
    pairs, how = {}, {}
    for name in classes:
        if name in left_out:
            pairs[name], how[name] = None, "left out"
        elif name in by_hand:
            pairs[name], how[name] = by_hand[name], "by hand"
        elif name in labels:
            pairs[name], how[name] = name, "exact"
        elif len(loose.get(_loose(name), [])) == 1:
            pairs[name], how[name] = loose[_loose(name)][0], "loose"
        else:
            pairs[name] = None
    return LabelMapping(model, pairs, how)


def parse_map_options(options: list[str]) -> dict[str, str]:
    """--map NAME=LABEL options as {name: label}; DataError for one without '='."""
    mapping = {}
    for option in options:
        name, separator, label = option.partition("=")
        if not separator or not name.strip() or not label.strip():
            raise DataError(f"--map {option} should look like NAME=LABEL, e.g. --map hotdog=hot dog.")
        mapping[name.strip()] = label.strip()
    return mapping


def load_image(image: LabelledImage):
    """The decoded picture of a set's image (core.images.DecodedImage); ImageError or DataError in one sentence."""
    from core.images import decode_image

    try:
        data = image.path.read_bytes()
    except OSError as error:
        raise DataError(f"{image.name} cannot be read ({error.strerror or error}).") from error
    return decode_image(data, image.name)
