"""The work of a batch run, the same in every engine: a `Job` (models, methods and their parameters, the output
folder) and `explain_chunk`, which turns a chunk of decoded images into finished rows, writing each map (.npy,
float16) and overlay (.png) on the way. A failure is a row with its sentence, never an abort."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.batch.inputs import BatchImage
from core.batch.table import ERROR, METRIC_PREFIX, OK
from core.errors import UserError
from core.images import decode_image, file_safe
from core.spec import ModelSpec

CHUNK = 32  # images decoded and explained together: one model pass per method and model per chunk
# Overlays are drawn at the image's size, larger images at this side: a 4000-pixel photo's overlay would cost
# seconds and show nothing more, and enlarging small ones (as the pages do for display) costs ten times the map.
OVERLAY_SIDE = 640
TOL = 0.9  # share of the map's mass the fitted box keeps per side (core.boxes)


@dataclass(frozen=True)
class Job:
    """What a run computes: each model (its spec and stamp) with each method and its full parameters."""

    specs: tuple[ModelSpec, ...]
    stamps: tuple[str, ...]
    methods: tuple[str, ...]
    params: dict[str, dict] = field(default_factory=dict)  # method -> every parameter, defaults included
    out: str = "."
    metrics: bool = False

    def params_json(self, method: str) -> str:
        return json.dumps(self.params.get(method, {}), sort_keys=True)

    def pairs(self) -> list[tuple[int, str]]:
        """Every (model index, method) pair, in a stable order."""
        return [(m, method) for m in range(len(self.specs)) for method in self.methods]


@dataclass
class Decoded:
    """An image read once: its content hash, size and model-sized pixels per input shape, or why it failed."""

    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    pixels: np.ndarray | None = None  # (H, W, 3) uint8 as given
    resized: dict = field(default_factory=dict)  # (input size, colour mode) -> (h, w, c) float32
    error: str | None = None


def decode_for(image: BatchImage, specs: Sequence[ModelSpec]) -> Decoded:
    """Reads, hashes, decodes and resizes one image for every model (models of one input shape share the
    resize); never raises: what goes wrong is the sentence of its rows."""
    if image.error is not None:
        return Decoded(error=f"{image.name}: {image.error}.")
    try:
        data = Path(image.path).read_bytes()
    except OSError as error:
        return Decoded(error=f"{image.name} cannot be read ({error.strerror or error}).")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        decoded = decode_image(data, image.name)
    except UserError as error:
        return Decoded(sha256=sha256, error=str(error))
    resized = {}
    for spec in specs:
        shape = (spec.input_size, spec.colour_mode)
        if shape not in resized:
            resized[shape] = spec.resize([decoded.pixels])[0]
    return Decoded(sha256, decoded.width, decoded.height, decoded.pixels, resized)


def _sentence(error: Exception, what: str) -> str:
    """A person's sentence for a failure: ours as written, anything else named with what failed."""
    if isinstance(error, UserError):
        return str(error)
    first = (str(error).strip().splitlines() or [""])[0][:300]
    return f"{what} failed: {type(error).__name__}{': ' + first if first else ''}."


def _file_stem(image: BatchImage, stamp: str, method: str, params: str) -> str:
    """A file name of its own per row: the image's stem for people, a digest of the whole key for uniqueness."""
    digest = hashlib.sha256(repr((image.path, stamp, method, params)).encode()).hexdigest()[:12]
    return f"{file_safe(Path(image.name).stem)[:60]}-{digest}"


def _base_row(image: BatchImage, decoded: Decoded, job: Job, m: int, method: str) -> dict:
    return {
        "image": image.path,
        "name": image.name,
        "sha256": decoded.sha256,
        "width": decoded.width,
        "height": decoded.height,
        "true_label": image.true_label,
        "model": job.specs[m].name,
        "model_stamp": job.stamps[m],
        "method": method,
        "params": job.params_json(method),
        "status": ERROR,
        "error": None,
    }


def explain_chunk(
    models: Sequence, job: Job, images: Sequence[BatchImage], todo: Sequence, decoded: Sequence[Decoded], trust=None
) -> list[dict]:
    """The rows of one chunk: for each image, each (model index, method) pair in its `todo`. Each model scores
    the chunk once (the target is its predicted class); each method explains the chunk in one call, and if that
    fails, image by image, so only the images it fails on are error rows. `trust` is the trust metrics' hook
    (`core.batch.trust.trust_hook`) when the run asks for metrics."""
    from core.explain import METHODS

    rows = []
    for m, model in enumerate(models):
        spec = job.specs[m]
        wanted = [i for i in range(len(images)) if any(pair[0] == m for pair in todo[i])]
        for i in wanted:  # unreadable images: one error row per pair asked for
            if decoded[i].error is not None:
                for _, method in (pair for pair in todo[i] if pair[0] == m):
                    rows.append({**_base_row(images[i], decoded[i], job, m, method), "error": decoded[i].error})
        readable = [i for i in wanted if decoded[i].error is None]
        if not readable:
            continue
        pixels = np.stack([decoded[i].resized[(spec.input_size, spec.colour_mode)] for i in readable])
        started = time.perf_counter()
        try:
            probabilities = model.probabilities(pixels, batch_size=model.batch(CHUNK))
        except Exception as error:  # noqa: BLE001 - the model failing on this chunk is its rows' error
            sentence = _sentence(error, f"Scoring with {spec.name}")
            for i in readable:
                for _, method in (pair for pair in todo[i] if pair[0] == m):
                    rows.append({**_base_row(images[i], decoded[i], job, m, method), "error": sentence})
            continue
        score_seconds = (time.perf_counter() - started) / len(readable)
        targets = probabilities.argmax(axis=1).astype(np.int32)
        for method_name in job.methods:
            chosen = [r for r, i in enumerate(readable) if (m, method_name) in todo[i]]
            if not chosen:
                continue
            method = METHODS[method_name]
            params = job.params[method_name]
            started = time.perf_counter()
            maps, errors = _maps(model, pixels[chosen], targets[chosen], method_name, params)
            sources = [(images[readable[r]], decoded[readable[r]]) for r in chosen]
            metrics = _metrics(trust, model, pixels[chosen], targets[chosen], maps, method_name, errors, sources)
            seconds = score_seconds + (time.perf_counter() - started) / len(chosen)
            for k, r in enumerate(chosen):
                i = readable[r]
                row = _base_row(images[i], decoded[i], job, m, method_name)
                target = int(targets[r])
                row.update(
                    target=target,
                    target_label=spec.labels[target],
                    predicted_label=spec.labels[target],
                    probability=float(probabilities[r, target]),
                )
                if errors[k] is not None:
                    rows.append({**row, "error": errors[k], "seconds": seconds})
                    continue
                written = time.perf_counter()
                row.update(_write_files(job, images[i], decoded[i], spec, method, row, maps[k]))
                row.update(metrics[k])
                row["seconds"] = seconds + time.perf_counter() - written
                row["status"] = OK if row.get("error") is None else ERROR
                rows.append(row)
    return rows


def _maps(model, pixels: np.ndarray, targets: np.ndarray, method: str, params: dict):
    """The maps of the whole chunk in one call; when that fails, image by image. Returns (maps, one error
    sentence or None per image)."""
    from core.explain import METHODS, explain

    title = METHODS[method].title
    try:
        return explain(model, pixels, targets, method, params), [None] * len(pixels)
    except Exception:  # noqa: BLE001 - find the images it fails on
        pass
    maps, errors = np.zeros((len(pixels), *pixels.shape[1:3]), np.float32), []
    for k in range(len(pixels)):
        try:
            maps[k] = explain(model, pixels[k : k + 1], targets[k : k + 1], method, params)[0]
            errors.append(None)
        except Exception as error:  # noqa: BLE001 - this image's row carries it
            errors.append(_sentence(error, f"{title} with {model.name}"))
    return maps, errors


def _metrics(trust, model, pixels, targets, maps, method: str, errors: list, sources: list) -> list[dict]:
    """Each image's trust metrics as `metric_NAME` columns: the hook's, and the localisation numbers where the
    image's set says where the object is (`sources`: each image with its Decoded); when they fail, the sentence as
    the row's error."""
    from core.batch.trust import localisation_metrics, truth_of

    if trust is None:
        return [{} for _ in range(len(pixels))]
    try:
        found = trust(model, pixels, targets, maps, method)
        rows = [{f"{METRIC_PREFIX}{name}": float(value) for name, value in values.items()} for values in found]
    except Exception as error:  # noqa: BLE001 - the rows say the metrics failed
        sentence = _sentence(error, f"The trust metrics of {method} with {model.name}")
        return [{"error": sentence} for _ in range(len(pixels))]
    for row, raw, error, (image, decoded) in zip(rows, maps, errors, sources, strict=True):
        if error is not None or image.box is None:
            continue
        try:
            values = localisation_metrics(raw, truth_of(image, decoded.height, decoded.width))
        except Exception as failure:  # noqa: BLE001 - this row says its localisation failed
            row["error"] = _sentence(failure, f"The localisation metrics of {method} with {model.name}")
            continue
        row.update({f"{METRIC_PREFIX}{name}": float(value) for name, value in values.items()})
    return rows


def _write_files(job: Job, image: BatchImage, decoded: Decoded, spec: ModelSpec, method, row: dict, raw) -> dict:
    """Writes the raw map (float16) and the overlay with its box; returns the box and both paths."""
    from PIL import Image

    from core.boxes import fit_box
    from core.render import colour_limit, explanation_picture

    height, width = spec.input_size
    fit = fit_box(raw, TOL).scaled(decoded.width, decoded.height, width, height)
    stem = _file_stem(image, row["model_stamp"], method.name, row["params"])
    folder = f"{file_safe(spec.name)}/{file_safe(method.name)}"
    map_path, overlay_path = f"maps/{folder}/{stem}.npy", f"overlays/{folder}/{stem}.png"
    out = Path(job.out)
    (out / map_path).parent.mkdir(parents=True, exist_ok=True)
    (out / overlay_path).parent.mkdir(parents=True, exist_ok=True)
    np.save(out / map_path, raw.astype(np.float16))
    limit = colour_limit(raw, method.signed)
    picture = explanation_picture(
        decoded.pixels,
        raw,
        fit,
        limit,
        method.signed,
        colourmap=method.colourmap,
        exponent=method.overlay_exponent,
        side=OVERLAY_SIDE if max(decoded.width, decoded.height) > OVERLAY_SIDE else None,
    )
    Image.fromarray(picture).save(out / overlay_path, compress_level=1)  # a fifth faster than the default, a bit larger
    x0, y0, x1, y1 = fit.box
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "map": map_path, "overlay": overlay_path}
