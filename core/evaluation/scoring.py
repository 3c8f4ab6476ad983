"""Scoring a labelled set: each image read and decoded once, by a pool of threads working ahead of the models,
and scored once per model in batches; results cached by image content and model file stamp, so a second run,
or a second model added to the first, scores only what is new.

Test-time augmentation ("flip": the image and its mirror; "flip+shift": also four copies shifted by a
sixteenth of the side) averages the model's probabilities over those views.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from core.errors import UserError
from core.evaluation.data import LabelledImage, LabelledSet
from core.images import decode_image
from core.memory import guard
from core.progress import Pace
from core.scoring import LoadedModel
from core.spec import ModelSpec

TTA_MODES = ("none", "flip", "flip+shift")
BATCH = 64  # images per model pass at most; a model's memory budget may allow fewer (LoadedModel.batch)
CHUNK = 64  # images decoded and handed to the models at a time
AHEAD = 2  # chunks the decoding threads may work ahead of the models
SHIFT_FRACTION = 1 / 16
T = TypeVar("T")
D = TypeVar("D")


def decoding_threads() -> int:
    """Threads that decode ahead of the models: one core is left to the model (on 2 cores, one thread decodes
    about three times as fast as these models score, and a second only competes with the model for the CPU)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def model_stamp(spec: ModelSpec) -> str:
    """What makes a model's answers what they are: its file (size and modification time) and the spec's
    choices (labels, preprocessing, colour mode, output, input size). A replaced file gets a new stamp."""
    path = Path(spec.path)
    target = path / "saved_model.pb" if path.is_dir() else path
    try:
        stat = target.stat()
        facts = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        facts = (None, None)
    text = repr(
        (spec.name, str(path), facts, spec.labels, spec.preprocessing, spec.colour_mode, spec.output, spec.input_size)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ScoreCache:
    """Per (model stamp, image hash, TTA mode), the model's probabilities and, with TTA, their mean over the
    views: thread-safe, least recently used entries dropped beyond `max_bytes`."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[np.ndarray, np.ndarray | None] | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._entries

    def put(self, key: tuple, value: tuple[np.ndarray, np.ndarray | None]) -> None:
        size = sum(v.nbytes for v in value if v is not None)
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= sum(v.nbytes for v in dropped if v is not None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Progress(Pace):
    """How far a scoring run is: images done of the total, and the pace so far."""

    done: int
    total: int
    seconds: float
    scored: int  # images some model scored in this run (the others came from the cache)


@dataclass(frozen=True)
class ModelScores:
    """One model's probabilities on a set's readable images, in the set's order."""

    model: str
    labels: tuple[str, ...]
    stamp: str
    probabilities: np.ndarray  # (N, K) float32
    tta_probabilities: np.ndarray | None  # (N, K) float32, the mean over the TTA views; None without TTA
    tta: str


@dataclass(frozen=True)
class ScoredSet:
    """A set after scoring: the images that could be read (with their content hashes), one sentence per image
    that could not, and each model's probabilities."""

    labelled: LabelledSet
    images: tuple[LabelledImage, ...]
    sha256: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]
    scores: dict[str, ModelScores]
    seconds: float
    scored: int  # images decoded and scored in this run; the rest came from the cache


def _views(pixels: np.ndarray, tta: str) -> list[np.ndarray]:
    """The TTA views of model-sized pixels (N, H, W, C): the images, their mirror, and with shifts four copies
    moved by a sixteenth of the side, the uncovered edge filled by repeating the border."""
    views = [pixels]
    if tta in ("flip", "flip+shift"):
        views.append(pixels[:, :, ::-1])
    if tta == "flip+shift":
        height, width = pixels.shape[1:3]
        dy, dx = max(1, round(height * SHIFT_FRACTION)), max(1, round(width * SHIFT_FRACTION))
        padded = np.pad(pixels, ((0, 0), (dy, dy), (dx, dx), (0, 0)), mode="edge")
        for oy, ox in ((0, dx), (2 * dy, dx), (dy, 0), (dy, 2 * dx)):
            views.append(padded[:, oy : oy + height, ox : ox + width])
    return views


def _probabilities(model: LoadedModel, pixels: np.ndarray, tta: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Plain probabilities (N, K), and with TTA their mean over the views, in passes of at most BATCH inputs."""
    views = _views(pixels, tta)
    stacked = np.concatenate(views) if len(views) > 1 else pixels
    with guard(f"Scoring with {model.name}"):
        probabilities = model.probabilities(stacked, batch_size=model.batch(BATCH))
    n = len(pixels)
    plain = probabilities[:n]
    if tta == "none":
        return plain, None
    return plain, probabilities.reshape(len(views), n, -1).mean(axis=0).astype(np.float32)


def decoded_ahead(
    items: Sequence[T], decode: Callable[[T], D], *, workers: int | None = None, chunk: int = CHUNK, ahead: int = AHEAD
) -> Iterator[tuple[list[T], list[D]]]:
    """(items, decode(item) for each) chunk by chunk, in order: `workers` threads (by default `decoding_threads()`)
    decode up to `ahead` chunks ahead of the caller, so reading files overlaps whatever the caller does with the
    chunk before (the evaluation's scoring, the batch explanations). `decode` must not raise."""
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    pending: deque[list[Future]] = deque()
    with ThreadPoolExecutor(max(1, workers or decoding_threads()), thread_name_prefix="decode") as pool:
        try:
            submitted = 0
            for part in chunks:
                while submitted < len(chunks) and len(pending) <= ahead:
                    pending.append([pool.submit(decode, item) for item in chunks[submitted]])
                    submitted += 1
                yield part, [future.result() for future in pending.popleft()]
        finally:  # the caller stopped early (an interrupt): what was not started is not decoded
            for futures in pending:
                for future in futures:
                    future.cancel()


@dataclass
class _Decoded:
    sha256: str | None
    error: str | None
    pixels: dict[str, np.ndarray]  # model stamp -> model-sized pixels (H, W, C) float32, for models that need them
    cached: dict[str, tuple]  # model stamp -> the cache's scores, taken when the image was read


_Lookup = Callable[[str], tuple[list[tuple[str, ModelSpec]], dict[str, tuple]]]


def _decode_one(image: LabelledImage, lookup: _Lookup) -> _Decoded:
    try:
        data = image.path.read_bytes()
    except OSError as error:
        return _Decoded(None, f"cannot be read ({error.strerror or error})", {}, {})
    sha256 = hashlib.sha256(data).hexdigest()
    wanted, cached = lookup(sha256)
    if not wanted:
        return _Decoded(sha256, None, {}, cached)  # every model has scored this picture before: no decoding
    try:
        decoded = decode_image(data, image.name)
    except UserError as error:
        return _Decoded(sha256, str(error), {}, {})
    pixels = {}
    resized: dict[tuple, np.ndarray] = {}  # models of the same input size and colour share one resize
    for stamp, spec in wanted:
        shape = (spec.input_size, spec.colour_mode)
        if shape not in resized:
            resized[shape] = spec.resize([decoded.pixels])[0]
        pixels[stamp] = resized[shape]
    return _Decoded(sha256, None, pixels, cached)


def score_set(
    labelled: LabelledSet,
    models: Sequence[LoadedModel],
    *,
    tta: str = "none",
    cache: ScoreCache | None = None,
    progress: Callable[[Progress], None] | None = None,
    workers: int | None = None,
) -> ScoredSet:
    """Every readable image of `labelled` scored by every model (with TTA when asked): `workers` threads (by
    default `decoding_threads()`) decode up to AHEAD chunks ahead while the models score the current one; what
    `cache` holds is not decoded or scored again. An image that cannot be read or decoded is listed with its
    reason and skipped."""
    if tta not in TTA_MODES:
        raise UserError(f"Test-time augmentation must be one of {', '.join(TTA_MODES)}, not {tta}.")
    cache = cache if cache is not None else ScoreCache()
    stamps = {model.name: model_stamp(model.spec) for model in models}
    by_stamp = {stamps[model.name]: model for model in models}

    def lookup(sha256: str) -> tuple[list[tuple[str, ModelSpec]], dict[str, tuple]]:
        wanted, cached = [], {}
        for stamp, model in by_stamp.items():
            hit = cache.get((stamp, sha256, tta))
            if hit is None:
                wanted.append((stamp, model.spec))
            else:
                cached[stamp] = hit
        return wanted, cached

    images = labelled.images
    started = time.perf_counter()
    results: list[_Decoded] = []
    # This run's scores and the cache's hits, kept here whatever the cache drops meanwhile.
    found: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}
    scored = 0
    for _, decoded in decoded_ahead(images, lambda image: _decode_one(image, lookup), workers=workers):
        results.extend(decoded)
        for d in decoded:
            found.update({(stamp, d.sha256): value for stamp, value in d.cached.items()})
        for stamp, model in by_stamp.items():
            rows = [(d.sha256, d.pixels[stamp]) for d in decoded if d.error is None and stamp in d.pixels]
            rows = list({sha: pixels for sha, pixels in rows}.items())  # the same picture twice: scored once
            if not rows:
                continue
            plain, augmented = _probabilities(model, np.stack([pixels for _, pixels in rows]), tta)
            for row, (sha, _) in enumerate(rows):
                value = (plain[row].copy(), None if augmented is None else augmented[row].copy())
                found[(stamp, sha)] = value
                cache.put((stamp, sha, tta), value)
        scored += sum(1 for d in decoded if d.pixels)
        if progress is not None:
            progress(Progress(len(results), len(images), time.perf_counter() - started, scored))
    readable, hashes = [], []
    unreadable = list(labelled.unreadable)
    for image, decoded in zip(images, results, strict=True):
        if decoded.error is not None:
            unreadable.append((image.name, decoded.error))
        else:
            readable.append(image)
            hashes.append(decoded.sha256)
    scores = {}
    for model in models:
        stamp = stamps[model.name]
        rows = [found[(stamp, sha)] for sha in hashes]
        classes = len(model.spec.labels)
        plain = np.stack([row[0] for row in rows]) if rows else np.zeros((0, classes), np.float32)
        augmented = None
        if tta != "none":
            augmented = np.stack([row[1] for row in rows]) if rows else np.zeros((0, classes), np.float32)
        scores[model.name] = ModelScores(model.name, model.spec.labels, stamp, plain, augmented, tta)
    return ScoredSet(
        labelled, tuple(readable), tuple(hashes), tuple(unreadable), scores, time.perf_counter() - started, scored
    )
