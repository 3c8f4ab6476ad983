"""Reading users' model files: every common Keras format, checked before anything in them runs.

`detect_format` names the format of a path (by content, not only by suffix), `open_model` loads it
(Keras 3 `.keras`, Keras 3 and Keras 2 `.h5`, SavedModel folders, `.tflite`), and `describe` reads
what the file says about itself: input size and channels, number of outputs, and the output kind
where the model shows it. Keras safe_mode stays on, and before loading, the model's configuration
is scanned for Lambda layers and objects from outside Keras, which are refused unless the caller
marks the file as trusted. Every failure is a `ModelError` with one sentence.

Used by `core.spec` and `core.scoring`; the public entry points are `core.spec.spec_from_file` and
`core.scoring.load_model`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import memory
from core.errors import ModelError, UntrustedModelError
from core.model_safety import check_zip, savedmodel_refusal, tflite_refusal

FORMATS = ("keras", "h5", "savedmodel", "tflite", "applications")
# The only formats whose models this app can differentiate (gradient methods need this).
GRADIENT_FORMATS = frozenset({"keras", "h5", "applications"})
FORMAT_TITLES = {
    "keras": "Keras",
    "h5": "Keras HDF5",
    "savedmodel": "SavedModel",
    "tflite": "TensorFlow Lite",
    "applications": "keras.applications",
}
# Largest model file (or SavedModel folder) accepted, in bytes; MODEL_MAX_BYTES overrides it.
DEFAULT_MAX_BYTES = 1 << 30

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MODEL_CLASSES = ("Functional", "Model", "Sequential")


def max_bytes() -> int:
    value = os.environ.get("MODEL_MAX_BYTES")
    try:
        return int(value) if value else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


def bytes_on_disk(path: Path) -> int:
    """The size of a model file, or of every file in a model folder (a SavedModel), in bytes."""
    path = Path(path)
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def check_size(path: Path) -> None:
    limit = max_bytes()
    size = bytes_on_disk(path)
    if size > limit:
        raise ModelError(
            f"{path.name} is {_amount(size)}, more than the {_amount(limit)} this app loads; "
            "raise MODEL_MAX_BYTES if you mean it."
        )


def _amount(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 10**6 else f"{size:,} bytes"


def detect_format(path: Path) -> str:
    """'keras', 'h5', 'savedmodel' or 'tflite' from the file's content; ModelError when it is none of them."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"There is no file or folder at {path}; check the path.")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelError(f"The folder {path.name} is not a SavedModel (it has no saved_model.pb).")
    with open(path, "rb") as file:
        head = file.read(8)
    if head.startswith(b"PK"):
        return "savedmodel" if _zipped_savedmodel_root(path) is not None else "keras"
    if head == _HDF5_MAGIC:
        return "h5"
    if head[4:8] == b"TFL3":
        return "tflite"
    raise ModelError(
        f"{path.name} is not a model file this app can read; give a .keras, .h5 or .tflite file or a SavedModel "
        "folder (or that folder zipped)."
    )


def _zipped_savedmodel_root(path: Path) -> str | None:
    """The folder in a zip that holds saved_model.pb ('' for the top), or None when it is not a zipped SavedModel."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    roots = [name[: -len("saved_model.pb")] for name in names if name.endswith("saved_model.pb")]
    roots = [root for root in roots if root == "" or (root.endswith("/") and root.count("/") == 1)]
    return min(roots, key=len) if roots else None


def _unzip_savedmodel(path: Path) -> tuple[tempfile.TemporaryDirectory, Path]:
    """A zipped SavedModel extracted into a temporary folder (removed when the returned object is dropped),
    after `check_zip` has refused paths outside the folder and zip bombs."""
    check_zip(path, max_bytes())
    folder = tempfile.TemporaryDirectory(prefix="savedmodel-")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder.name)
    return folder, Path(folder.name) / (_zipped_savedmodel_root(path) or "")


# ---------------------------------------------------------------------------------------------------
# Security: what a configuration may contain before it is deserialised.


def _refusal(config, source: str) -> str | None:
    """Why `config` (a Keras model config, any version) must not be loaded untrusted, or None."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        class_name = str(item.get("class_name", ""))
        if class_name == "Lambda" or class_name.endswith(">Lambda"):
            return f"{source} has a Lambda layer, which runs Python code stored in the file"
        module = item.get("module")
        if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
            return f"{source} uses '{class_name}' from the module '{module}', code from outside Keras"
        for key in ("registered_name", "class_name"):
            value = item.get(key)
            if isinstance(value, str) and ">" in value and value.split(">", 1)[0] != "keras":
                return f"{source} uses the custom object '{value}', code from outside Keras"
        stack.extend(item.values())
    return None


def _refuse_untrusted(config, source: str) -> None:
    reason = _refusal(config, source)
    if reason:
        raise UntrustedModelError(reason)


def _keras_zip_config(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise ModelError(
            f"{path.name} could not be loaded as a Keras model (it is not a .keras archive with a config.json)."
        ) from error


def _h5_attributes(path: Path) -> tuple[dict, str]:
    """(model config, Keras version) of a whole-model .h5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            text = file.attrs.get("model_config")
            version = file.attrs.get("keras_version", b"")
    except OSError as error:
        raise ModelError(f"{path.name} is not a readable HDF5 file ({error}).") from error
    if text is None:
        raise ModelError(
            f"{path.name} holds weights only, not a model; save the whole model (model.save) and load that file."
        )
    decode = lambda value: value.decode() if isinstance(value, bytes) else str(value)  # noqa: E731
    try:
        return json.loads(decode(text)), decode(version)
    except ValueError as error:
        raise ModelError(f"{path.name} has an unreadable model configuration.") from error


# ---------------------------------------------------------------------------------------------------
# Loading each format.


@dataclass
class SavedModelFunction:
    """A SavedModel's serving signature as a callable from one image batch to one output tensor; it has no
    gradients this app can use."""

    differentiable = False

    module: object  # keeps the loaded SavedModel (and its variables) alive
    function: object
    input_name: str
    input_shape: tuple
    input_dtype: object
    output_name: str
    output_shape: tuple
    unpacked: object = None  # the temporary folder of a zipped SavedModel, kept while the model lives

    def __call__(self, x):
        import tensorflow as tf

        return self.function(**{self.input_name: tf.cast(x, self.input_dtype)})[self.output_name]


@dataclass(frozen=True)
class TFLiteFile:
    """A .tflite model's bytes; each LoadedModel builds its own interpreter (they are not thread-safe)."""

    content: bytes

    def interpreter(self):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter warns that it moves to ai-edge-litert
            interpreter = tf.lite.Interpreter(model_content=self.content)
        interpreter.allocate_tensors()
        return interpreter


class TFLiteRunner:
    """One interpreter of a .tflite file, resized to each batch size, used under a lock (not thread-safe).
    NumPy in and out: it has no gradients."""

    differentiable = False

    def __init__(self, tflite: TFLiteFile) -> None:
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


def _depthwise_without_groups():
    """DepthwiseConv2D that accepts the `groups` argument Keras 2 wrote into its config (keras-team/keras#19441)."""
    import keras

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def __init__(self, *args, groups=None, **kwargs):
            super().__init__(*args, **kwargs)

    return DepthwiseConv2D


def _renumber_nested_nodes(config: dict) -> bool:
    """Keras 2 counts a nested model's own construction as node 0, so calls start at node 1; Keras 3
    counts from 0. Shifts those references in place; True when any changed."""
    changed = False
    layers = config.get("config", {}).get("layers", [])
    nested = {layer.get("name") for layer in layers if layer.get("class_name") in _MODEL_CLASSES}
    for layer in layers:
        if layer.get("class_name") in _MODEL_CLASSES:
            changed |= _renumber_nested_nodes(layer)
        for node in layer.get("inbound_nodes", []):
            for reference in node if isinstance(node, list) else []:
                if isinstance(reference, list) and reference and reference[0] in nested and reference[1] > 0:
                    reference[1] -= 1
                    changed = True
    return changed


def _load_keras(path: Path, trusted: bool, custom_objects: dict | None = None):
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=not trusted, custom_objects=custom_objects)


def _load_h5(path: Path, trusted: bool):
    config, version = _h5_attributes(path)
    if not trusted:
        _refuse_untrusted(config, path.name)
    fixes = {"DepthwiseConv2D": _depthwise_without_groups()}
    try:
        return _load_keras(path, trusted, fixes)
    except Exception as error:
        if not version.startswith("2.") or not _renumber_nested_nodes(config):
            raise
        first = error
    # A Keras 2 file with a base model nested inside: load a temporary copy with the node numbers
    # Keras 3 expects; the user's file is not touched and the copy is deleted.
    import h5py

    folder = tempfile.mkdtemp(prefix="model-")
    try:
        copy = Path(folder) / "model.h5"
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as file:
            file.attrs["model_config"] = json.dumps(config)
        try:
            return _load_keras(copy, trusted, fixes)
        except Exception:
            raise first from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _load_savedmodel(path: Path, trusted: bool) -> SavedModelFunction:
    import tensorflow as tf

    unpacked, folder = _unzip_savedmodel(path) if path.is_file() else (None, path)  # a file: the folder zipped
    if not trusted:  # before any of its operations can run, loading included
        reason = savedmodel_refusal(folder, path.name)
        if reason:
            raise UntrustedModelError(reason)
    module = tf.saved_model.load(str(folder))
    signatures = dict(module.signatures)
    name = next((key for key in ("serving_default", "serve") if key in signatures), None)
    if name is None:
        raise ModelError(f"The SavedModel {path.name} has no serving signature ('serving_default' or 'serve').")
    function = signatures[name]
    inputs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"The SavedModel {path.name} takes {len(inputs)} inputs and gives {len(outputs)} outputs; "
            "this app needs one image input and one output."
        )
    (input_name, input_spec), (output_name, output_spec) = next(iter(inputs.items())), next(iter(outputs.items()))
    return SavedModelFunction(
        module,
        function,
        input_name,
        tuple(input_spec.shape),
        input_spec.dtype,
        output_name,
        tuple(output_spec.shape),
        unpacked,
    )


def _load_applications(architecture: str, weights: Path):
    import keras

    constructor = getattr(keras.applications, architecture, None)
    if constructor is None:
        raise ModelError(f"keras.applications has no model called {architecture}.")
    return constructor(weights=str(weights))


def open_model(path: Path, format: str, trusted: bool = False, architecture: str | None = None):
    """The model object of a file: a Keras model (keras, h5, applications), a `SavedModelFunction` or a
    `TFLiteFile`. Refuses files that are too large, models whose memory for one image is over the budget
    (before anything runs on them) and, unless `trusted`, code that is not Keras's."""
    path = Path(path)
    if format != "applications":
        check_size(path)
    try:
        model = _open(path, format, trusted, architecture)
        memory.estimate(model).check(path.name)
        if isinstance(model, TFLiteFile):
            model.interpreter()  # fails here, not later, on a broken file
        return model
    except ModelError:
        raise
    except Exception as error:  # each library raises many types for a bad file; the user needs one sentence
        message = " ".join(str(error).split())
        if "Lambda" in message and "safe_mode" in message:
            raise UntrustedModelError(
                f"{path.name} has a Lambda layer, which runs Python code stored in the file"
            ) from error
        raise ModelError(
            f"{path.name} could not be loaded as a {FORMAT_TITLES.get(format, format)} model ({message[:300]})."
        ) from error


def _open(path: Path, format: str, trusted: bool, architecture: str | None):
    if format == "keras":
        if zipfile.is_zipfile(path):  # else the config reader says it is no .keras archive
            check_zip(path, max_bytes())
        if not trusted:
            _refuse_untrusted(_keras_zip_config(path), path.name)
        return _load_keras(path, trusted)
    if format == "h5":
        return _load_h5(path, trusted)
    if format == "savedmodel":
        return _load_savedmodel(path, trusted)
    if format == "tflite":
        tflite = TFLiteFile(path.read_bytes())
        reason = tflite_refusal(tflite.content, path.name)
        if reason:  # this interpreter cannot run them, trusted or not
            raise ModelError(reason + ".")
        return tflite
    if format == "applications":
        return _load_applications(architecture or "", path)
    raise ModelError(f"Unknown model format '{format}'; use one of {', '.join(FORMATS)}.")


_cache_lock = threading.Lock()
_cache: dict[tuple, object] = {}


def stamp(path: Path) -> tuple[int, int]:
    """(bytes, latest modification time in ns) of a file or folder: changes when the model is replaced."""
    path = Path(path)
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    stats = [item.stat() for item in items]
    return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)


def open_cached(path: Path, format: str, trusted: bool = False, architecture: str | None = None):
    """`open_model`, once per file version (path, size, modification time) and trust: the object is
    shared and must not be changed."""
    path = Path(path).resolve()
    if format != "applications":
        check_size(path)  # also for a cached model: the limit may have changed since
    key = (str(path), format, trusted, architecture, stamp(path))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = open_model(path, format, trusted, architecture)
        return _cache[key]


def forget(path: Path) -> None:
    """Drops every cached model opened from `path` (e.g. an upload whose session ended)."""
    path = str(Path(path).resolve())
    with _cache_lock:
        for key in [key for key in _cache if key[0] == path]:
            del _cache[key]


# ---------------------------------------------------------------------------------------------------
# What a model says about itself.


@dataclass(frozen=True)
class Facts:
    """What a loaded model tells about itself."""

    input_size: tuple[int, int]
    channels: int
    units: int  # outputs per image (1 for a single sigmoid unit)
    output: str | None  # 'sigmoid', 'softmax' or 'logits' where the model shows it, else None
    format: str = "keras"


def _image_input(shape, name: str) -> tuple[tuple[int, int], int]:
    shape = tuple(shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ModelError(
            f"{name} does not take images: its input has shape {_shape_text(shape)}, and this app needs "
            "(batch, height, width, 1 or 3 channels)."
        )
    height, width = shape[1], shape[2]
    if not height or not width or height < 0 or width < 0:
        raise ModelError(
            f"{name} has no fixed input size (input shape {_shape_text(shape)}); save it with one, e.g. 224x224."
        )
    return (int(height), int(width)), int(shape[-1])


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None or d < 0 else str(d) for d in shape) + ")"


def _units(shape, name: str) -> int:
    shape = tuple(shape)
    if len(shape) != 2 or not shape[-1]:
        raise ModelError(
            f"{name} gives outputs of shape {_shape_text(shape)}; this app needs one score per class, (batch, classes)."
        )
    return int(shape[-1])


def keras_output_kind(model) -> str | None:
    """'sigmoid', 'softmax' or 'logits' from the last layer of a Keras model, or None when it does not show."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", None)
    if name in ("sigmoid", "softmax"):
        return name
    if name == "linear":
        return "logits"
    return None


def describe(model, name: str, format: str = "keras") -> Facts:
    """Input size, channels, outputs and (where visible) output kind; ModelError for non-image models."""
    if isinstance(model, TFLiteFile):
        interpreter = model.interpreter()
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{name} has {len(inputs)} inputs and {len(outputs)} outputs; this app needs one of each.")
        size, channels = _image_input(inputs[0]["shape"], name)
        return Facts(size, channels, _units(outputs[0]["shape"], name), None, format)
    if isinstance(model, SavedModelFunction):
        size, channels = _image_input(model.input_shape, name)
        return Facts(size, channels, _units(model.output_shape, name), None, format)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(
            f"{name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; this app needs one of each."
        )
    size, channels = _image_input(model.inputs[0].shape, name)
    units = _units(model.outputs[0].shape, name)
    return Facts(size, channels, units, keras_output_kind(model), format)


def differentiable(model) -> bool:
    """Whether gradients can flow through an opened model: Keras models yes; a SavedModel's serving function
    and a TensorFlow Lite interpreter no (their `differentiable` says so)."""
    return getattr(model, "differentiable", True)


def output_units(model) -> int:
    """Outputs per image of an opened model (or its TFLite interpreter)."""
    if isinstance(model, TFLiteFile):
        model = TFLiteRunner(model)
    shape = model.output_shape if hasattr(model, "output_shape") else model.outputs[0].shape
    return int(shape[-1])


def raw_outputs(model):
    """A function from preprocessed (N, H, W, C) inputs to the model's own outputs as NumPy, for any opened model."""
    if isinstance(model, TFLiteFile):
        return TFLiteRunner(model)
    if isinstance(model, TFLiteRunner):
        return model
    return lambda inputs: np.asarray(model(inputs))


def guess_output_kind(outputs: np.ndarray) -> str:
    """From a model's outputs on a few probe images: one unit in [0, 1] is a sigmoid, rows in [0, 1]
    summing to 1 are a softmax, anything else is raw scores (logits)."""
    outputs = np.asarray(outputs, np.float64)
    if outputs.min() >= 0.0 and outputs.max() <= 1.0:
        if outputs.shape[1] == 1:
            return "sigmoid"
        if np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
            return "softmax"
    return "logits"


# ---------------------------------------------------------------------------------------------------
# Labels and cards.


def read_labels(path: Path) -> tuple[str, ...]:
    """Class names from a .txt file (one per line), a .json list, or the imagenet_class_index.json form
    {"0": ["n01440764", "tench"], ...} (underscores become spaces)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"The labels file {path} cannot be read ({error}).") from error
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ModelError(f"The labels file {path.name} is not valid JSON ({error}).") from error
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return tuple(data)
        if isinstance(data, dict):
            try:
                ordered = sorted(data.items(), key=lambda item: int(item[0]))
            except ValueError:
                ordered = None
            if ordered is not None and [int(key) for key, _ in ordered] == list(range(len(ordered))):
                names = [value[-1] if isinstance(value, list) and value else value for _, value in ordered]
                if all(isinstance(name, str) for name in names):
                    return tuple(name.replace("_", " ") for name in names)
        raise ModelError(
            f"The labels file {path.name} should be a JSON list of names or a dict like "
            '{"0": ["n01440764", "tench"], ...}.'
        )
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise ModelError(f"The labels file {path.name} has no class names (one per line).")
    return labels


def card_path(model_path: Path) -> Path:
    """Where a model's card lives: `mymodel.json` beside `mymodel.h5` (or beside the folder `mymodel/`)."""
    model_path = Path(model_path)
    if model_path.is_dir():
        return model_path.parent / f"{model_path.name}.json"
    return model_path.with_suffix(".json")


def read_card(path: Path) -> dict:
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"The model card {Path(path).name} is not readable JSON ({error}).") from error
    if not isinstance(card, dict):
        raise ModelError(f"The model card {Path(path).name} should be a JSON object.")
    return card
