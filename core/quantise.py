"""Deployment check: a Keras model converted to float16 TensorFlow Lite, compared with the original.

`export_float16(spec, out_path)` writes the .tflite file and a card beside it (same labels,
preprocessing, colour mode, output kind and usual confidence, so it loads back through
`core.spec.spec_from_file` like any model); `compare_float16` runs both on the same images and reports,
side by side: file size, latency per image (batch of one, median), top-1 agreement (and which images
change their top class) and the largest probability difference. `quantise` does both.
`python -m core quantise --model NAME_OR_PATH --out FILE.tflite` prints the report as JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core import familiarity
from core.catalog import get_spec
from core.errors import ModelError
from core.model_files import bytes_on_disk, card_path
from core.scoring import LoadedModel, load_model, unload
from core.spec import ModelSpec, spec_from_file


@dataclass(frozen=True)
class QuantiseReport:
    """The original model and its float16 TFLite version on the same images."""

    model: str
    tflite_path: str
    card_path: str
    images: int
    original_bytes: int
    tflite_bytes: int
    original_ms_per_image: float
    tflite_ms_per_image: float
    top1_agreement: float  # share of images whose most probable class is the same, 0..1
    max_probability_difference: float  # largest |p_original − p_tflite| over images and classes
    changed_images: tuple[str, ...] = ()  # the images whose most probable class is not the same

    @property
    def size_ratio(self) -> float:
        return self.tflite_bytes / max(1, self.original_bytes)

    def as_dict(self) -> dict:
        return {**asdict(self), "size_ratio": round(self.size_ratio, 4)}


def _ms_per_image(model: LoadedModel, pixels: np.ndarray) -> float:
    """Median milliseconds of one image at a time (how a deployed model is usually called)."""
    times = []
    for i in range(len(pixels)):
        started = time.perf_counter()
        model.scores(pixels[i : i + 1])
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def convert_float16(model: LoadedModel) -> bytes:
    """The model's float16 TFLite flatbuffer (weights in float16, computation in float32)."""
    if not model.differentiable:
        raise ModelError(
            f"{model.name} is not a Keras model; only Keras models (.keras, .h5, keras.applications) can be converted."
        )
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model.model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its signature summary
            return converter.convert()
    except Exception as error:  # the converter raises many types; the user needs one sentence
        message = " ".join(str(error).split())[:300]
        raise ModelError(f"{model.name} could not be converted to TensorFlow Lite ({message}).") from error


def export_float16(spec: ModelSpec | str, out_path: str | Path) -> tuple[Path, Path]:
    """Writes `out_path` (.tflite, float16) and its card beside it; returns both paths."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".tflite":
        raise ModelError(f"The output file {out_path.name} should end in .tflite.")
    flatbuffer = convert_float16(load_model(spec))
    card = {
        "name": f"{spec.name}-float16",
        "file": out_path.name,
        "source": spec.name,
        "quantization": "float16",
        "input_size": list(spec.input_size),
        "color_mode": spec.colour_mode,
        "preprocessing": spec.preprocessing,
        "labels": list(spec.labels),
        "output": spec.output,
    }
    if familiarity.CARD_KEY in spec.card:  # its probabilities stay within a fraction of a percent: same floor
        card[familiarity.CARD_KEY] = spec.card[familiarity.CARD_KEY]
    card_file = card_path(out_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(flatbuffer)
        card_file.write_text(json.dumps(card, indent=1))
    except OSError as error:
        raise ModelError(f"{out_path} cannot be written ({error.strerror}).") from error
    return out_path, card_file


def compare_float16(
    spec: ModelSpec | str, tflite_path: str | Path, images: list[np.ndarray], names: list[str] | None = None
) -> QuantiseReport:
    """The original model and its float16 file (with its card beside it) on the same `images` (RGB uint8 arrays
    of any size, named by `names` for the report's list of images whose top class changes)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    if not images:
        raise ModelError("Give at least one image to compare the two models on.")
    names = names or [f"image {i + 1}" for i in range(len(images))]
    original = load_model(spec)
    converted_spec = spec_from_file(tflite_path)
    converted = load_model(converted_spec)
    try:
        pixels = spec.resize(images)
        before, after = original.probabilities(pixels), converted.probabilities(pixels)
        changed = before.argmax(axis=1) != after.argmax(axis=1)
        return QuantiseReport(
            model=spec.name,
            tflite_path=str(tflite_path),
            card_path=str(card_path(Path(tflite_path))),
            images=len(pixels),
            original_bytes=bytes_on_disk(spec.path),
            tflite_bytes=bytes_on_disk(Path(tflite_path)),
            original_ms_per_image=round(_ms_per_image(original, pixels), 3),
            tflite_ms_per_image=round(_ms_per_image(converted, pixels), 3),
            top1_agreement=float(np.mean(~changed)),
            max_probability_difference=float(np.abs(before - after).max()),
            changed_images=tuple(name for name, change in zip(names, changed, strict=True) if change),
        )
    finally:
        unload(converted_spec)  # a converted file is compared once; it need not stay in memory


def quantise(spec: ModelSpec | str, out_path: str | Path, images: list[np.ndarray] | None = None) -> QuantiseReport:
    """Writes `out_path` (.tflite, float16) and its card, loads it back and compares it with the original
    on `images` (RGB uint8 arrays of any size; default: `core.samples.sample_images()`)."""
    names = None
    if images is None:
        from core.samples import sample_images

        samples = sample_images()
        images, names = [s.image.pixels for s in samples], [s.image.name for s in samples]
    if not images:
        raise ModelError("Give at least one image to compare the two models on.")
    tflite_path, _ = export_float16(spec, out_path)
    return compare_float16(spec, tflite_path, images, names)
