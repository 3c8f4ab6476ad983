"""Model specs, loading and the class scores every other part of core works from.

A `ModelSpec` holds everything model-specific (file and format, input size, colour mode,
preprocessing, labels, output kind, Grad-CAM layer, trust), so no page or method branches on a
model's name. A `LoadedModel` wraps a model that is never changed after loading: explanations use
`scores`, the value before the final sigmoid/softmax (seed 000 §5.3), taken from a second graph that
shares the layers (Keras formats) or, where the file hides its layers (SavedModel, TFLite), by
inverting the final activation (log p for a softmax, log(p / (1 − p)) for a sigmoid).

Where models come from (`known_models`): the bundled demo pair, the ImageNet pair of `core.zoo`,
then the entries of the registry file (`registry_path`); any file or folder through `spec_from_file`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from core import memory, model_files, preprocessing
from core.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
BUNDLED = ("demo-resnet", "demo-efficientnet")
OutputKind = Literal["sigmoid", "softmax", "logits"]
OUTPUT_KINDS = ("sigmoid", "softmax", "logits")
COLOR_MODES = ("rgb", "grayscale")
# The registry of users' models: this file, or the one named by the MODEL_REGISTRY environment variable.
DEFAULT_REGISTRY = MODELS_DIR / "registry.json"


@dataclass(frozen=True)
class ModelSpec:
    """What core needs to know to feed a model and read its outputs."""

    name: str
    path: Path
    input_size: tuple[int, int]  # (height, width)
    labels: tuple[str, ...]
    preprocessing: str = "raw"
    color_mode: Literal["rgb", "grayscale"] = "rgb"
    output: OutputKind = "softmax"
    gradcam_layer: str | None = None
    card: dict = field(default_factory=dict, compare=False, hash=False)
    # 'keras' (.keras), 'h5' (Keras 3 or Keras 2), 'savedmodel' (a folder), 'tflite', or 'applications'
    # (a keras.applications `architecture` built with the weights file at `path`).
    format: str = "keras"
    trusted: bool = False  # the user vouches for the file: Lambda layers and foreign code may load
    architecture: str | None = None
    # (bytes, modification time) of a user's file when its spec was made: a replaced file is a new model.
    stamp: tuple[int, int] | None = None

    @property
    def ready(self) -> bool:
        """True when the weights are on disk and can be loaded without a download."""
        return self.path.exists()

    @property
    def gradients(self) -> bool:
        """Whether this format lets the app differentiate the model (gradient methods need it)."""
        return self.format in model_files.GRADIENT_FORMATS

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3

    def resize(self, images: list[np.ndarray]) -> np.ndarray:
        """Model-sized pixels (N, H, W, C) float32 in 0..255 from RGB uint8 images of any size; the
        model's preprocessing is applied inside its compiled functions, so gradients are per pixel."""
        height, width = self.input_size
        batch = np.empty((len(images), height, width, self.channels), np.float32)
        for i, pixels in enumerate(images):
            image = Image.fromarray(np.asarray(pixels, np.uint8))
            if image.size != (width, height):
                image = image.resize((width, height), Image.BILINEAR, reducing_gap=2.0)
            if self.color_mode == "grayscale":
                image = image.convert("L")
            batch[i] = np.asarray(image, np.float32).reshape(height, width, self.channels)
        return batch

    @classmethod
    def from_card(cls, path: Path) -> ModelSpec:
        """The spec written next to a bundled model by `python -m models.train`."""
        card = json.loads(path.read_text())
        return cls(
            name=card["name"],
            path=path.parent / card["file"],
            input_size=tuple(card["input_size"]),
            labels=tuple(card["labels"]),
            preprocessing=card["preprocessing"],
            color_mode=card.get("color_mode", "rgb"),
            output=card["output"],
            gradcam_layer=card.get("gradcam_layer"),
            card=card,
        )


def known_models() -> dict[str, ModelSpec]:
    """Every model the app can offer, by name: the bundled ones, the ImageNet pair (`ready` once their
    weights are downloaded, see `core.zoo`), then the registry's entries (`registry_path`). A broken
    registry entry is left out and its reason kept in `registry_errors()`."""
    from core import zoo

    specs = {}
    for name in BUNDLED:
        card = MODELS_DIR / f"{name}.json"
        if card.exists():
            specs[name] = _spec_from_card(card, card.stat().st_mtime_ns)
    for spec in zoo.imagenet_models():
        specs.setdefault(spec.name, spec)
    for spec in registry_models():
        specs.setdefault(spec.name, spec)  # a name taken before is reported by registry_errors()
    return specs


@lru_cache(maxsize=64)
def _spec_from_card(card: Path, modified: int) -> ModelSpec:
    # Every page rerun asks for the known models: parse each card once, again only after it changes.
    return ModelSpec.from_card(card)


def get_spec(name: str) -> ModelSpec:
    specs = known_models()
    if name not in specs:
        raise ModelError(f"There is no model called '{name}'; known models: {', '.join(specs) or 'none'}.")
    return specs[name]


def _text_or_none(value, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"The model's {key} should be text, not {value!r}.")
    return value


def _labels_from(value, relative_to: Path | None) -> tuple[str, ...] | None:
    """Labels given as names (a list) or as a labels file (a path, relative to the card or registry)."""
    if value is None:
        return None
    if isinstance(value, str | Path):
        path = Path(value)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        return model_files.read_labels(path)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ModelError("Labels should be a list of class names or the path of a labels file.")


def spec_from_file(
    path: str | Path,
    *,
    name: str | None = None,
    labels: Sequence[str] | str | Path | None = None,
    preprocessing: str | None = None,
    color_mode: str | None = None,
    output: str | None = None,
    trusted: bool = False,
    gradcam_layer: str | None = None,
) -> ModelSpec:
    """The spec of a model file or SavedModel folder (or of a card `.json` naming its `file`).

    Each value comes from the argument if given, else from the card beside the model (`mymodel.json`
    next to `mymodel.h5`, keys as in models/demo-resnet.json), else from the model itself: input size
    and channels always, the output kind from the last layer (Keras) or from the outputs on probe
    images (SavedModel, TFLite). Labels default to "class 0".."class N-1"; preprocessing to "raw".
    `labels` is a list of names or the path of a labels file (.txt, .json list, imagenet_class_index.json).
    `trusted` is never read from a card: only the person loading the file can vouch for it.
    Loads the model once (cached, shared with `load_model`); raises ModelError with one sentence."""
    path = Path(path)
    card: dict = {}
    card_file = None
    if path.suffix.lower() == ".json" and path.is_file():
        card_file, card = path, model_files.read_card(path)
        if not isinstance(card.get("file"), str):
            raise ModelError(f"The model card {path.name} does not name its model 'file'.")
        path = path.parent / card["file"]
    else:
        candidate = model_files.card_path(path)
        if candidate.is_file() and candidate != path:
            card_file, card = candidate, model_files.read_card(candidate)
    fmt = model_files.detect_format(path)
    model = model_files.open_cached(path, fmt, trusted)
    facts = model_files.describe(model, path.name)
    guessed = []

    color_mode = color_mode or _text_or_none(card.get("color_mode"), "color_mode")
    natural = "grayscale" if facts.channels == 1 else "rgb"
    if color_mode is None:
        color_mode = natural
        guessed.append("color_mode")
    if color_mode not in COLOR_MODES:
        raise ModelError(f"Unknown colour mode '{color_mode}'; choose rgb or grayscale.")
    if color_mode != natural:
        raise ModelError(
            f"{path.name} takes {facts.channels}-channel images, so its colour mode is {natural}, not {color_mode}."
        )

    chosen = preprocessing or _text_or_none(card.get("preprocessing"), "preprocessing")
    if chosen is None:
        chosen = "raw"
        guessed.append("preprocessing")
    preprocessing_name = _check_preprocessing(chosen, color_mode)

    output = output or _text_or_none(card.get("output"), "output")
    if output is None:
        output = facts.output or _probe_output_kind(model, facts, preprocessing_name)
        guessed.append("output")
    if output not in OUTPUT_KINDS:
        raise ModelError(f"Unknown output kind '{output}'; choose sigmoid, softmax or logits.")
    if output == "sigmoid" and facts.units != 1:
        raise ModelError(
            f"{path.name} gives {facts.units} outputs per image; a sigmoid output here means one unit "
            "(several independent sigmoids are not supported), so declare softmax or logits."
        )

    classes = 2 if facts.units == 1 else facts.units
    names = _labels_from(labels, None)
    if names is None:
        names = _labels_from(card.get("labels"), card_file.parent if card_file else None)
    if names is None:
        names = tuple(f"class {i}" for i in range(classes))
        guessed.append("labels")
    _check_labels(names, classes, path.name, facts.units == 1)

    return ModelSpec(
        name=name or _text_or_none(card.get("name"), "name") or (path.name if path.is_dir() else path.stem),
        path=path,
        input_size=facts.input_size,
        labels=names,
        preprocessing=preprocessing_name,
        color_mode=color_mode,
        output=output,
        gradcam_layer=gradcam_layer or _text_or_none(card.get("gradcam_layer"), "gradcam_layer"),
        card={**card, "guessed": guessed, "format": fmt},
        format=fmt,
        trusted=bool(trusted),
        stamp=model_files.stamp(path),
    )


def _check_preprocessing(name: str, color_mode: str) -> str:
    name = preprocessing.canonical(name)
    if color_mode == "grayscale" and preprocessing.needs_rgb(name):
        raise ModelError(f"The preprocessing '{name}' needs three colour channels; this model takes grayscale images.")
    return name


def _check_labels(labels: tuple[str, ...], classes: int, name: str, single_unit: bool = False) -> None:
    if len(labels) != classes:
        unit = " (one output unit: two classes, the negative one first)" if single_unit else ""
        raise ModelError(
            f"{len(labels)} labels were given but {name} has {classes} classes{unit}; give one label per class."
        )


def _probe_output_kind(model, facts: model_files.Facts, preset: str) -> str:
    """The output kind of a model that hides its last layer, from its outputs on a few probe images."""
    rng = np.random.default_rng(0)
    height, width = facts.input_size
    pixels = rng.uniform(0, 255, (4, height, width, facts.channels)).astype(np.float32)
    pixels = np.concatenate([pixels, np.zeros_like(pixels[:1]), np.full_like(pixels[:1], 255.0)])
    probe = _raw_outputs(model, preset)
    with memory.guard("Reading the model's output kind"):
        outputs = np.concatenate([probe(pixels[i : i + 1]) for i in range(len(pixels))])
    return model_files.guess_output_kind(outputs)


def _raw_outputs(model, preset: str):
    """A function (N, H, W, C) 0..255 pixels -> the model's own outputs as NumPy (no score extraction)."""
    function = preprocessing.function(preset)
    if isinstance(model, model_files.TFLiteFile):
        runner = _TFLiteRunner(model)
        return lambda pixels: runner(function(pixels))
    return lambda pixels: np.asarray(model(function(pixels)))


def registry_path() -> Path:
    """The registry file: $MODEL_REGISTRY if set, else models/registry.json (which git ignores)."""
    return Path(os.environ.get("MODEL_REGISTRY") or DEFAULT_REGISTRY)


def registry_errors() -> list[str]:
    """One sentence per registry entry that `known_models()` leaves out (unreadable, or a name taken)."""
    from core import zoo

    path = registry_path()
    if not path.is_file():
        return []
    stat = path.stat()
    specs, errors = _read_registry(path.resolve(), stat.st_mtime_ns, stat.st_size)
    taken = {*BUNDLED, *(spec.name for spec in zoo.imagenet_models())}
    problems = list(errors)
    for spec in specs:
        if spec.name in taken:
            problems.append(f"The registry names {spec.name} twice or reuses a built-in name; rename that entry.")
        taken.add(spec.name)
    return problems


def registry_models() -> list[ModelSpec]:
    """The specs of the registry's entries, in file order; unusable entries are skipped (see `registry_errors`).

    The registry is JSON: {"models": [{"name": "my-cnn", "path": "my-cnn.h5", "labels": "labels.txt",
    "preprocessing": "resnet_v2", "color_mode": "rgb", "output": "softmax", "trusted": false}, ...]}
    (or the list alone). Only "path" is required; relative paths are relative to the registry file."""
    path = registry_path()
    if not path.is_file():
        return []
    stat = path.stat()
    return list(_read_registry(path.resolve(), stat.st_mtime_ns, stat.st_size)[0])


@lru_cache(maxsize=8)
def _read_registry(path: Path, modified: int, size: int) -> tuple[tuple[ModelSpec, ...], tuple[str, ...]]:
    # known_models() runs on every page rerun: read (and load) the registry's models once per version of it.
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return (), (f"The model registry {path} is not readable JSON ({error}).",)
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        return (), (f'The model registry {path} should hold {{"models": [...]}}.',)
    specs, errors = [], []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            errors.append(f"Entry {number} of the model registry {path.name} has no 'path'.")
            continue
        model_path = Path(entry["path"]).expanduser()
        model_path = model_path if model_path.is_absolute() else path.parent / model_path
        labels = entry.get("labels")
        if isinstance(labels, str):
            labels = Path(labels).expanduser()
            labels = labels if labels.is_absolute() else path.parent / labels
        try:
            specs.append(
                spec_from_file(
                    model_path,
                    name=_text_or_none(entry.get("name"), "name"),
                    labels=labels,
                    preprocessing=_text_or_none(entry.get("preprocessing"), "preprocessing"),
                    color_mode=_text_or_none(entry.get("color_mode"), "color_mode"),
                    output=_text_or_none(entry.get("output"), "output"),
                    trusted=entry.get("trusted") is True,
                    gradcam_layer=_text_or_none(entry.get("gradcam_layer"), "gradcam_layer"),
                )
            )
        except ModelError as error:
            errors.append(f"Registry entry {entry.get('name') or entry['path']}: {error}")
    return tuple(specs), tuple(errors)


class LoadedModel:
    """A spec with its model, loaded once, warmed up, and never mutated.

    `gradients` says whether the gradient methods can run on it: True for Keras formats (`model` is
    the Keras model), False for SavedModel (`model` is its serving function) and TFLite files. `memory`
    is its estimate, which sets how many images go through it at once (`batch`)."""

    def __init__(self, spec: ModelSpec, model, estimate: memory.MemoryEstimate | None = None) -> None:
        import tensorflow as tf

        if spec.output not in OUTPUT_KINDS:
            raise ModelError(f"Unknown output kind '{spec.output}'; choose sigmoid, softmax or logits.")
        _check_preprocessing(spec.preprocessing, spec.color_mode)
        self.spec = spec
        self.model = model
        self.memory = estimate or memory.estimate(model)
        self.gradients = isinstance(model, _keras_model_class())
        self.score_model = _score_model(model, spec.output) if self.gradients else None
        self.units = self._units()
        # A single unit S (a sigmoid, or a logit declared as such) is read as the two classes (-S, S).
        self.binary = self.units == 1
        if spec.output == "sigmoid" and not self.binary:
            raise ModelError(
                f"{spec.name} gives {self.units} outputs per image; a sigmoid output here means one unit, "
                "so declare softmax or logits."
            )
        _check_labels(spec.labels, 2 if self.binary else self.units, spec.name, self.binary)
        self._compiled: dict = {}
        self._lock = threading.Lock()
        self._preprocess = preprocessing.function(spec.preprocessing)
        # Compiled once per model with a fixed signature, so no rerun or batch size retraces it.
        self._scores = self._build_scores(tf)
        # Warm up (trace once), then time one small batch: the basis of every cost estimate shown to users.
        probe = np.zeros((self.batch(8), *self.pixel_signature.shape[1:]), np.float32)
        self.scores(probe[:1])
        started = time.perf_counter()
        self.scores(probe)
        self.seconds_per_image = (time.perf_counter() - started) / len(probe)

    def _units(self) -> int:
        if self.gradients:
            return int(self.model.outputs[0].shape[-1])
        return int(self.model.output_shape[-1])

    def _build_scores(self, tf):
        return tf.function(self.class_scores, input_signature=[self.pixel_signature])

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pixel_signature(self):
        import tensorflow as tf

        height, width = self.spec.input_size
        return tf.TensorSpec((None, height, width, self.spec.channels), tf.float32)

    def batch(self, requested: int, gradients: bool = False) -> int:
        """Images per pass: `requested`, or fewer when this model's memory estimate says they would not fit the
        budget (a gradient keeps every layer's output, so it fits fewer)."""
        return max(1, min(int(requested), self.memory.batch_limit(gradients)))

    def require_gradients(self, what: str = "This method") -> None:
        """Raises ModelError (one sentence) when the model's format gives no gradients."""
        if not self.gradients:
            title = model_files.FORMAT_TITLES.get(self.spec.format, self.spec.format)
            raise ModelError(
                f"{what} needs gradients, and {self.name} is a {title} file, which gives none; "
                "use SHAP (partition) or LIME, which need only predictions."
            )

    def preprocess_graph(self, pixels):
        """The spec's preprocessing as tensor operations (differentiable)."""
        return self._preprocess(pixels)

    def raw_to_class_scores(self, raw, pixels):
        """(N, classes) scores from the score model's raw output; one unit S becomes (-S, S)."""
        import tensorflow as tf

        raw = tf.reshape(raw, (tf.shape(pixels)[0], -1))
        return tf.concat([-raw, raw], axis=1) if self.binary else raw

    def class_scores(self, pixels, training: bool = False):
        """Tensor of class scores (N, classes) from model-sized 0..255 pixels; for use inside a GradientTape."""
        if self.score_model is None:
            import tensorflow as tf

            outputs = tf.cast(self.model(self.preprocess_graph(pixels)), tf.float32)
            return self.raw_to_class_scores(_inverse_activation(outputs, self.spec.output), pixels)
        return self.raw_to_class_scores(self.score_model(self.preprocess_graph(pixels), training=training), pixels)

    def compiled(self, key, build):
        """A function compiled once per model and key (e.g. a gradient step for one layer)."""
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = build()
            return self._compiled[key]

    def _score_batch(self, pixels: np.ndarray) -> np.ndarray:
        return self._scores(pixels).numpy()

    def scores(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class scores before the final activation, (N, classes) float32; a one-unit model gives (-S, S)."""
        pixels = np.asarray(pixels, np.float32)
        batch_size = self.batch(batch_size)
        parts = [self._score_batch(pixels[i : i + batch_size]) for i in range(0, len(pixels), batch_size)]
        return np.concatenate(parts).astype(np.float32)

    def probabilities(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (N, classes) float32 from one batched pass."""
        return probabilities_from_scores(self.scores(pixels, batch_size), "sigmoid" if self.binary else "softmax")


class _TFLiteRunner:
    """One interpreter of a .tflite file, resized to each batch size, used under a lock (not thread-safe)."""

    def __init__(self, tflite: model_files.TFLiteFile) -> None:
        self._interpreter = tflite.interpreter()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = int(self._input["shape"][0])
        self._lock = threading.Lock()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._output["shape"])

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs, np.float32)
        with self._lock:
            if len(inputs) != self._batch:
                try:
                    self._interpreter.resize_tensor_input(self._input["index"], [len(inputs), *inputs.shape[1:]])
                    self._interpreter.allocate_tensors()
                    self._batch = len(inputs)
                except (RuntimeError, ValueError):  # a fixed batch size: one image at a time
                    return np.concatenate([self(inputs[i : i + 1]) for i in range(len(inputs))])
                self._input = self._interpreter.get_input_details()[0]
                self._output = self._interpreter.get_output_details()[0]
            self._interpreter.set_tensor(self._input["index"], _quantise(inputs, self._input))
            self._interpreter.invoke()
            return _dequantise(self._interpreter.get_tensor(self._output["index"]), self._output)


def _quantise(values: np.ndarray, details: dict) -> np.ndarray:
    dtype = details["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = details["quantization"]
        if scale:
            values = values / scale + zero
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _dequantise(values: np.ndarray, details: dict) -> np.ndarray:
    scale, zero = details["quantization"]
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer) and scale:
        return ((values.astype(np.float32) - zero) * scale).astype(np.float32)
    return values.astype(np.float32)


class _TFLiteModel(LoadedModel):
    """A .tflite model: NumPy in and out through its interpreter, no gradients."""

    def _units(self) -> int:
        return int(self.model.output_shape[-1])

    def _build_scores(self, tf):
        return None

    def class_scores(self, pixels, training: bool = False):
        self.require_gradients("Differentiating the scores")

    def _score_batch(self, pixels: np.ndarray) -> np.ndarray:
        outputs = self.model(self._preprocess(pixels)).reshape(len(pixels), -1)
        scores = _inverse_activation_numpy(outputs, self.spec.output)
        return np.concatenate([-scores, scores], axis=1) if self.binary else scores


_SMALLEST = 1e-30  # log of a probability that underflowed to 0 stays finite
_SIGMOID_CLIP = 1e-7


def _inverse_activation(outputs, output: OutputKind):
    """Scores from a model's final outputs: log p for a softmax (the logits up to a shift per image, which
    the softmax ignores), log(p / (1 − p)) for a sigmoid, the outputs themselves for logits."""
    import tensorflow as tf

    if output == "softmax":
        return tf.math.log(tf.maximum(outputs, _SMALLEST))
    if output == "sigmoid":
        p = tf.clip_by_value(outputs, _SIGMOID_CLIP, 1.0 - _SIGMOID_CLIP)
        return tf.math.log(p) - tf.math.log1p(-p)
    return outputs


def _inverse_activation_numpy(outputs: np.ndarray, output: OutputKind) -> np.ndarray:
    outputs = np.asarray(outputs, np.float64)
    if output == "softmax":
        return np.log(np.maximum(outputs, _SMALLEST)).astype(np.float32)
    if output == "sigmoid":
        p = np.clip(outputs, _SIGMOID_CLIP, 1.0 - _SIGMOID_CLIP)
        return (np.log(p) - np.log1p(-p)).astype(np.float32)
    return outputs.astype(np.float32)


def _keras_model_class():
    import keras

    return keras.Model


def probabilities_from_scores(scores: np.ndarray, output: OutputKind) -> np.ndarray:
    """Undo the score extraction: sigmoid of S for (-S, S) pairs, softmax otherwise."""
    if output == "sigmoid":
        positive = 1.0 / (1.0 + np.exp(-scores[:, 1:2].astype(np.float64)))
        return np.concatenate([1.0 - positive, positive], axis=1).astype(np.float32)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted.astype(np.float64))
    return (exponentials / exponentials.sum(axis=1, keepdims=True)).astype(np.float32)


def _score_model(model, output: OutputKind):
    """A Keras model sharing `model`'s layers whose output is the value before the final activation."""
    import keras

    shown = model_files.keras_output_kind(model)
    if output == "logits":
        if shown in ("sigmoid", "softmax"):
            raise ModelError(
                f"{model.name} ends in a {shown} but is declared as giving logits; declare its output as {shown}."
            )
        return model
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "")
    if isinstance(last, keras.layers.Activation) and name in ("sigmoid", "softmax"):
        return keras.Model(model.inputs, last.input)
    if isinstance(last, keras.layers.Dense) and name in ("sigmoid", "softmax"):
        # Replay the dense layer without its activation; the original layer object is untouched.
        logits = keras.ops.matmul(last.input, last.kernel)
        if last.use_bias:
            logits = logits + last.bias
        return keras.Model(model.inputs, logits)
    if isinstance(last, keras.layers.Softmax):
        return keras.Model(model.inputs, last.input)
    if shown == "logits":
        raise ModelError(
            f"{model.name} has no final sigmoid or softmax (its last layer gives raw scores); declare its output as "
            "'logits'."
        )
    raise ModelError(
        f"{model.name} does not end in a sigmoid or softmax layer this app can see through; "
        "declare its output as 'logits' if it already gives raw scores."
    )


_lock = threading.Lock()
_loaded: dict[ModelSpec, LoadedModel] = {}


def load_model(spec: ModelSpec | str) -> LoadedModel:
    """Loads (once per process, thread-safe) and warms up the model of a spec or known name, in any
    format; Keras safe_mode stays on unless the spec is `trusted`. Raises ModelError with one sentence."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    with _lock:
        if spec not in _loaded:
            if not spec.ready:
                if spec.format == "applications":
                    raise ModelError(
                        f"The ImageNet weights of {spec.name} are not downloaded yet; download them first "
                        "(core.zoo.download, or the dashboard's download button)."
                    )
                raise ModelError(f"The weights of {spec.name} are missing at {spec.path}.")
            model = model_files.open_cached(spec.path, spec.format, spec.trusted, spec.architecture)
            estimate = memory.estimate(model)
            try:
                with memory.guard(f"Loading {spec.name}"):
                    if isinstance(model, model_files.TFLiteFile):
                        _loaded[spec] = _TFLiteModel(spec, _TFLiteRunner(model), estimate)
                    else:
                        _loaded[spec] = LoadedModel(spec, model, estimate)
            except Exception:
                model_files.forget(spec.path)  # nothing stays half-loaded
                raise
        return _loaded[spec]


def unload(spec: ModelSpec) -> None:
    """Forgets a loaded model and its opened file, so its memory can go (an uploaded model whose session ended)."""
    with _lock:
        _loaded.pop(spec, None)
    model_files.forget(spec.path)
