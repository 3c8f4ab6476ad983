"""Model specs, loading and the class scores every other part of core works from.

A `ModelSpec` holds everything model-specific (input size, colour mode, preprocessing, labels,
output kind, Grad-CAM layer), so no page or method branches on a model's name. A `LoadedModel`
wraps a Keras model that is never changed after loading: explanations use `scores`, the value
before the final sigmoid/softmax (seed 000 §5.3), taken from a second graph that shares the layers.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from core.errors import ModelError
from core.preprocessing import PRESETS

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
BUNDLED = ("demo-resnet", "demo-efficientnet")
OutputKind = Literal["sigmoid", "softmax", "logits"]


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

    @property
    def ready(self) -> bool:
        """True when the weights are on disk and can be loaded without a download."""
        return self.path.exists()

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
    """Every model the app can offer, by name; bundled ones first."""
    specs = {}
    for name in BUNDLED:
        card = MODELS_DIR / f"{name}.json"
        if card.exists():
            specs[name] = _spec_from_card(card, card.stat().st_mtime_ns)
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


class LoadedModel:
    """A spec with its Keras model, loaded once, warmed up, and never mutated."""

    def __init__(self, spec: ModelSpec, model) -> None:
        import tensorflow as tf

        if spec.preprocessing not in PRESETS:
            raise ModelError(f"Unknown preprocessing '{spec.preprocessing}'; choose one of {', '.join(PRESETS)}.")
        self.spec = spec
        self.model = model
        self.score_model = _score_model(model, spec.output)
        self._compiled: dict = {}
        self._lock = threading.Lock()
        # Compiled once per model with a fixed signature, so no rerun or batch size retraces it.
        self._scores = tf.function(self.class_scores, input_signature=[self.pixel_signature])
        # Warm up (trace once), then time one small batch: the basis of every cost estimate shown to users.
        probe = np.zeros((8, *self.pixel_signature.shape[1:]), np.float32)
        self.scores(probe[:1])
        started = time.perf_counter()
        self.scores(probe)
        self.seconds_per_image = (time.perf_counter() - started) / len(probe)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pixel_signature(self):
        import tensorflow as tf

        height, width = self.spec.input_size
        return tf.TensorSpec((None, height, width, self.spec.channels), tf.float32)

    def preprocess_graph(self, pixels):
        """The spec's preprocessing as tensor operations (differentiable)."""
        return PRESETS[self.spec.preprocessing](pixels)

    def raw_to_class_scores(self, raw, pixels):
        """(N, classes) scores from the score model's raw output; one sigmoid unit S becomes (-S, S)."""
        import tensorflow as tf

        raw = tf.reshape(raw, (tf.shape(pixels)[0], -1))
        return tf.concat([-raw, raw], axis=1) if self.spec.output == "sigmoid" else raw

    def class_scores(self, pixels, training: bool = False):
        """Tensor of class scores (N, classes) from model-sized 0..255 pixels; for use inside a GradientTape."""
        return self.raw_to_class_scores(self.score_model(self.preprocess_graph(pixels), training=training), pixels)

    def compiled(self, key, build):
        """A function compiled once per model and key (e.g. a gradient step for one layer)."""
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = build()
            return self._compiled[key]

    def scores(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class scores before the final activation, (N, classes) float32; a one-unit sigmoid gives (-S, S)."""
        parts = [self._scores(pixels[i : i + batch_size]).numpy() for i in range(0, len(pixels), batch_size)]
        return np.concatenate(parts).astype(np.float32)

    def probabilities(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (N, classes) float32 from one batched pass."""
        return probabilities_from_scores(self.scores(pixels, batch_size), self.spec.output)


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

    if output == "logits":
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
    raise ModelError(
        f"{model.name} does not end in a sigmoid or softmax layer this app can see through; "
        "declare its output as 'logits' if it already gives raw scores."
    )


_lock = threading.Lock()
_loaded: dict[ModelSpec, LoadedModel] = {}


def load_model(spec: ModelSpec | str) -> LoadedModel:
    """Loads (once per process, thread-safe) and warms up the model; Keras safe_mode stays on."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    with _lock:
        if spec not in _loaded:
            if not spec.ready:
                raise ModelError(f"The weights of {spec.name} are missing at {spec.path}.")
            import keras

            try:
                model = keras.saving.load_model(spec.path, compile=False, safe_mode=True)
            except Exception as error:  # Keras raises many types for a bad file; the user needs one sentence
                raise ModelError(f"{spec.path.name} could not be loaded as a Keras model ({error}).") from error
            _loaded[spec] = LoadedModel(spec, model)
        return _loaded[spec]
