"""A loaded model and its class scores, the values every explanation works from.

A `LoadedModel` wraps a model that is never changed after loading. Explanations use `scores`, the
value before the final sigmoid/softmax (docs/methods.md, "Which score is explained"): for Keras
formats, from a second graph that shares the layers; where the file hides its layers (SavedModel,
TFLite), by inverting the final activation (log p for a softmax, log(p / (1 − p)) for a sigmoid).
`load_model` loads each spec once per process.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from core import memory, model_files, preprocessing
from core.catalog import get_spec
from core.errors import ModelError
from core.progress import passes_done
from core.spec import ModelSpec, OutputKind, check_labels, check_output, check_preprocessing


class LoadedModel:
    """A spec with its model, loaded once, warmed up, and never mutated.

    `differentiable` says whether the gradient methods can run on it: True for Keras formats (`model` is
    the Keras model), False for SavedModel (`model` is its serving function) and TFLite files (`model` is
    its interpreter). `memory` is its estimate, which sets how many images go through it at once (`batch`)."""

    def __init__(self, spec: ModelSpec, model, estimate: memory.MemoryEstimate | None = None) -> None:
        import tensorflow as tf

        self.memory = estimate or memory.estimate(model)
        if isinstance(model, model_files.TFLiteFile):
            model = model_files.TFLiteRunner(model)  # an interpreter of its own: they are not thread-safe
        self.spec = spec
        self.model = model
        self.differentiable = model_files.differentiable(model)
        self.units = model_files.output_units(model)
        check_output(spec.output, self.units, spec.name)
        check_preprocessing(spec.preprocessing, spec.colour_mode)
        # A single unit S (a sigmoid, or a logit declared as such) is read as the two classes (-S, S).
        self.binary = self.units == 1
        check_labels(spec.labels, 2 if self.binary else self.units, spec.name, self.binary)
        self.score_model = _score_model(model, spec.output) if self.differentiable else None
        self._compiled: dict = {}
        self._lock = threading.Lock()
        self._preprocess = preprocessing.function(spec.preprocessing)
        # Compiled once per model with a fixed signature, so no rerun or batch size retraces it.
        self._score_batch = self._build_scores(tf)
        # Warm up (trace once), then time one small batch: the basis of every cost estimate shown to users.
        probe = np.zeros((self.batch(8), *self.pixel_signature.shape[1:]), np.float32)
        self.scores(probe[:1])
        started = time.perf_counter()
        self.scores(probe)
        self.seconds_per_image = (time.perf_counter() - started) / len(probe)

    def _build_scores(self, tf):
        """A function (N, H, W, C) pixels -> (N, classes) NumPy scores, compiled where the format allows."""
        if self.differentiable:
            compiled = tf.function(self.class_scores, input_signature=[self.pixel_signature])
            return lambda pixels: compiled(pixels).numpy()
        if isinstance(self.model, model_files.SavedModelFunction):
            graph = tf.function(lambda x: self.model(self._preprocess(x)), input_signature=[self.pixel_signature])
            outputs = lambda pixels: np.asarray(graph(pixels))  # noqa: E731
        else:  # a TensorFlow Lite interpreter: NumPy in and out
            outputs = lambda pixels: self.model(self._preprocess(pixels))  # noqa: E731

        def scores(pixels: np.ndarray) -> np.ndarray:
            raw = inverse_activation(outputs(pixels).reshape(len(pixels), -1), self.spec.output)
            return np.concatenate([-raw, raw], axis=1) if self.binary else raw

        return scores

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
        if not self.differentiable:
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
        self.require_gradients("Differentiating the scores")
        return self.raw_to_class_scores(self.score_model(self.preprocess_graph(pixels), training=training), pixels)

    def compiled(self, key, build):
        """A function compiled once per model and key (e.g. a gradient step for one layer)."""
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = build()
            return self._compiled[key]

    def scores(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class scores before the final activation, (N, classes) float32; a one-unit model gives (-S, S)."""
        pixels = np.asarray(pixels, np.float32)
        batch_size = self.batch(batch_size)
        parts = []
        for i in range(0, len(pixels), batch_size):
            parts.append(self._score_batch(pixels[i : i + batch_size]))
            passes_done(len(parts[-1]))  # counted for whoever watches, and where a stop was asked, stopped
        return np.concatenate(parts).astype(np.float32)

    def probabilities(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (N, classes) float32 from one batched pass."""
        return self.probabilities_of(self.scores(pixels, batch_size))

    def probabilities_of(self, scores: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) float32 from this model's class scores (N, classes)."""
        return probabilities_from_scores(scores, "sigmoid" if self.binary else "softmax")


_SMALLEST = 1e-30  # log of a probability that underflowed to 0 stays finite
_SIGMOID_CLIP = 1e-7


def inverse_activation(outputs: np.ndarray, output: OutputKind) -> np.ndarray:
    """Scores from a model's final outputs: log p for a softmax (the logits up to a shift per image, which
    the softmax ignores), log(p / (1 − p)) for a sigmoid, the outputs themselves for logits."""
    outputs = np.asarray(outputs, np.float64)
    if output == "softmax":
        return np.log(np.maximum(outputs, _SMALLEST)).astype(np.float32)
    if output == "sigmoid":
        p = np.clip(outputs, _SIGMOID_CLIP, 1.0 - _SIGMOID_CLIP)
        return (np.log(p) - np.log1p(-p)).astype(np.float32)
    return outputs.astype(np.float32)


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


_lock = threading.Lock()  # guards the two dictionaries; each model has its own lock for its loading
_loaded: dict[ModelSpec, LoadedModel] = {}
_loading: dict[ModelSpec, threading.Lock] = {}


def is_loaded(spec: ModelSpec | str) -> bool:
    """Whether the model is loaded already (a page says it is loading one only when it is)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    return spec in _loaded


def load_model(spec: ModelSpec | str) -> LoadedModel:
    """Loads (once per process, thread-safe) and warms up the model of a spec or known name (see
    `core.catalog`), in any format; Keras safe_mode stays on unless the spec is `trusted`. Raises ModelError
    with one sentence; running out of memory while loading leaves nothing half-loaded in a cache. Two threads
    loading two models do not wait for each other; two loading the same one load it once."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    with _lock:
        loading = _loading.setdefault(spec, threading.Lock())
    with loading:
        if spec not in _loaded:
            if not spec.ready:
                if spec.format == "applications":
                    raise ModelError(
                        f"The ImageNet weights of {spec.name} are not downloaded yet; download them first "
                        "(core.zoo.download, or the dashboard's download button)."
                    )
                raise ModelError(f"The weights of {spec.name} are missing at {spec.path}.")
            model = model_files.open_cached(spec.path, spec.format, spec.trusted, spec.architecture)
            try:
                with memory.guard(f"Loading {spec.name}"):
                    _loaded[spec] = LoadedModel(spec, model)
            except Exception:
                model_files.forget(spec.path)  # nothing stays half-loaded
                raise
        return _loaded[spec]


def unload(spec: ModelSpec) -> None:
    """Forgets a loaded model and its opened file, so its memory can go (an uploaded model whose session ended)."""
    with _lock:
        _loaded.pop(spec, None)
        _loading.pop(spec, None)
    model_files.forget(spec.path)
