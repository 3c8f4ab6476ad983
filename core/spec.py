"""What a model is: `ModelSpec` (file and format, input size, colour mode, preprocessing, labels, output
kind, Grad-CAM layer, trust) and how a spec is made from a file in three steps: read the card beside
it (`read_card_of`), read the model's own facts (`core.model_files.describe`), and choose each value
from the caller's options, then the card, then the model (`choose`). Nothing here knows where models
come from (see `core.catalog`) or runs them (see `core.scoring`), except the probe that reads the
output kind of a model that hides its last layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from core import memory, model_files, preprocessing
from core.errors import ModelError

# The project's models folder: the bundled models' files and cards, and the ImageNet class names.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
OutputKind = Literal["sigmoid", "softmax", "logits"]
# The choices, defined once for the command line's options and the dashboard's form.
OUTPUT_KINDS: tuple[str, ...] = ("sigmoid", "softmax", "logits")
COLOUR_MODES: tuple[str, ...] = ("rgb", "grayscale")


@dataclass(frozen=True)
class ModelSpec:
    """What core needs to know to feed a model and read its outputs."""

    name: str
    path: Path
    input_size: tuple[int, int]  # (height, width)
    labels: tuple[str, ...]
    preprocessing: str = "raw"
    colour_mode: Literal["rgb", "grayscale"] = "rgb"
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
    def differentiable(self) -> bool:
        """Whether this format lets the app differentiate the model (gradient methods need it)."""
        return self.format in model_files.GRADIENT_FORMATS

    @property
    def channels(self) -> int:
        return 1 if self.colour_mode == "grayscale" else 3

    def resize(self, images: list[np.ndarray]) -> np.ndarray:
        """Model-sized pixels (N, H, W, C) float32 in 0..255 from RGB uint8 images of any size; the
        model's preprocessing is applied inside its compiled functions, so gradients are per pixel."""
        height, width = self.input_size
        batch = np.empty((len(images), height, width, self.channels), np.float32)
        for i, pixels in enumerate(images):
            image = Image.fromarray(np.asarray(pixels, np.uint8))
            if image.size != (width, height):
                image = image.resize((width, height), Image.BILINEAR, reducing_gap=2.0)
            if self.colour_mode == "grayscale":
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
            colour_mode=card.get("color_mode", "rgb"),
            output=card["output"],
            gradcam_layer=card.get("gradcam_layer"),
            card=card,
        )


def text_or_none(value, key: str) -> str | None:
    """A card's or registry's text value, or None; ModelError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"The model's {key} should be text, not {value!r}.")
    return value


def labels_from(value, relative_to: Path | None = None) -> tuple[str, ...] | None:
    """Labels given as names (a list), as a labels file (a path, relative to the card or registry), or as
    comma-separated text ("cat, dog, fox") where no such file exists; None when not given."""
    if value is None:
        return None
    if isinstance(value, str | Path):
        path = Path(value)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if isinstance(value, str) and not path.is_file() and ("," in value or not path.suffix):
            return tuple(name.strip() for name in value.split(",") if name.strip()) or None
        return model_files.read_labels(path)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ModelError("Labels should be a list of class names or the path of a labels file.")


def check_preprocessing(name: str, colour_mode: str) -> str:
    name = preprocessing.canonical(name)
    if colour_mode == "grayscale" and preprocessing.needs_rgb(name):
        raise ModelError(f"The preprocessing '{name}' needs three colour channels; this model takes grayscale images.")
    return name


def check_output(output: str, units: int, name: str) -> None:
    """ModelError unless `output` is a known kind that fits a model with `units` outputs per image."""
    if output not in OUTPUT_KINDS:
        raise ModelError(f"Unknown output kind '{output}'; choose sigmoid, softmax or logits.")
    if output == "sigmoid" and units != 1:
        raise ModelError(
            f"{name} gives {units} outputs per image; a sigmoid output here means one unit "
            "(several independent sigmoids are not supported), so declare softmax or logits."
        )


def check_labels(labels: tuple[str, ...], classes: int, name: str, single_unit: bool = False) -> None:
    if len(labels) != classes:
        unit = " (one output unit: two classes, the negative one first)" if single_unit else ""
        raise ModelError(
            f"{len(labels)} labels were given but {name} has {classes} classes{unit}; give one label per class."
        )


def read_card_of(path: Path) -> tuple[Path, dict, Path | None]:
    """Step 1: (the model's path, its card, the card's path or None). `path` is the model (its card is
    `mymodel.json` beside `mymodel.h5` or beside the folder `mymodel/`) or a card naming its model `file`."""
    path = Path(path)
    if path.suffix.lower() == ".json" and path.is_file():
        card = model_files.read_card(path)
        if not isinstance(card.get("file"), str):
            raise ModelError(f"The model card {path.name} does not name its model 'file'.")
        return path.parent / card["file"], card, path
    candidate = model_files.card_path(path)
    if candidate.is_file() and candidate != path:
        return path, model_files.read_card(candidate), candidate
    return path, {}, None


def choose(
    path: Path,
    facts: model_files.Facts,
    card: dict,
    card_file: Path | None,
    model,
    *,
    name: str | None = None,
    labels: Sequence[str] | str | Path | None = None,
    preprocessing: str | None = None,
    colour_mode: str | None = None,
    output: str | None = None,
    trusted: bool = False,
    gradcam_layer: str | None = None,
) -> ModelSpec:
    """Step 3: each value from the options, else the card, else the model's facts (or a probe of its
    outputs), else a default; the card says which values were guessed (`card["guessed"]`)."""
    guessed = []
    colour_mode = colour_mode or text_or_none(card.get("color_mode"), "color_mode")
    natural = "grayscale" if facts.channels == 1 else "rgb"
    if colour_mode is None:
        colour_mode = natural
        guessed.append("color_mode")
    if colour_mode not in COLOUR_MODES:
        raise ModelError(f"Unknown colour mode '{colour_mode}'; choose rgb or grayscale.")
    if colour_mode != natural:
        raise ModelError(
            f"{path.name} takes {facts.channels}-channel images, so its colour mode is {natural}, not {colour_mode}."
        )

    chosen = preprocessing or text_or_none(card.get("preprocessing"), "preprocessing")
    if chosen is None:
        chosen = "raw"
        guessed.append("preprocessing")
    preprocessing_name = check_preprocessing(chosen, colour_mode)

    output = output or text_or_none(card.get("output"), "output")
    if output is None:
        output = facts.output or _probe_output_kind(model, facts, preprocessing_name)
        guessed.append("output")
    check_output(output, facts.units, path.name)

    classes = 2 if facts.units == 1 else facts.units
    names = labels_from(labels)
    if names is None:
        names = labels_from(card.get("labels"), card_file.parent if card_file else None)
    if names is None:
        names = tuple(f"class {i}" for i in range(classes))
        guessed.append("labels")
    check_labels(names, classes, path.name, facts.units == 1)

    fmt = facts.format
    return ModelSpec(
        name=name or text_or_none(card.get("name"), "name") or (path.name if path.is_dir() else path.stem),
        path=path,
        input_size=facts.input_size,
        labels=names,
        preprocessing=preprocessing_name,
        colour_mode=colour_mode,
        output=output,
        gradcam_layer=gradcam_layer or text_or_none(card.get("gradcam_layer"), "gradcam_layer"),
        card={**card, "guessed": guessed, "format": fmt},
        format=fmt,
        trusted=bool(trusted),
        stamp=model_files.stamp(path),
    )


def spec_from_file(path: str | Path, **options) -> ModelSpec:
    """The spec of a model file or SavedModel folder (or of a card `.json` naming its `file`): read the card,
    read the model's facts (input size and channels always; the output kind where the last layer shows it),
    choose each value (see `choose`; options: name, labels, preprocessing, colour_mode, output, trusted,
    gradcam_layer). `labels` is a list of names, comma-separated text or the path of a labels file (.txt,
    .json list, imagenet_class_index.json). `trusted` is never read from a card: only the person loading the
    file can vouch for it. Opens the model once (cached, shared with `core.scoring.load_model`); raises
    ModelError with one sentence."""
    path, card, card_file = read_card_of(Path(path))
    fmt = model_files.detect_format(path)
    model = model_files.open_cached(path, fmt, bool(options.get("trusted")))
    facts = model_files.describe(model, path.name, fmt)
    return choose(path, facts, card, card_file, model, **options)


def _probe_output_kind(model, facts: model_files.Facts, preset: str) -> str:
    """The output kind of a model that hides its last layer, from its outputs on a few probe images."""
    rng = np.random.default_rng(0)
    height, width = facts.input_size
    pixels = rng.uniform(0, 255, (4, height, width, facts.channels)).astype(np.float32)
    pixels = np.concatenate([pixels, np.zeros_like(pixels[:1]), np.full_like(pixels[:1], 255.0)])
    outputs = model_files.raw_outputs(model)
    function = preprocessing.function(preset)
    with memory.guard("Reading the model's output kind"):
        probes = np.concatenate([outputs(function(pixels[i : i + 1])) for i in range(len(pixels))])
    return model_files.guess_output_kind(probes)


# What the app assumes when neither the file, its card nor the person adding it says, in plain words.
_ASSUMED = {
    "preprocessing": "no preprocessing: pixels go in as 0–255",
    "output": "what its outputs are ({output}), read from its last layer or its outputs on test images",
    "labels": "class names: the file gives none, so they are numbered (class 0, class 1, …)",
}


_OUTPUT_WORDS = {
    "softmax": "softmax: one probability per class",
    "sigmoid": "sigmoid: one unit, the probability of the second class",
    "logits": "logits: scores, turned into probabilities by a softmax",
}


def facts_in_words(spec: ModelSpec) -> dict[str, str]:
    """What a model is, for a person confirming an upload: format, input, classes, preprocessing, output, and
    which explanations work on it."""
    height, width = spec.input_size
    shown = ", ".join(spec.labels[:5]) + (f" and {len(spec.labels) - 5} more" if len(spec.labels) > 5 else "")
    return {
        "File": model_files.FORMAT_TITLES.get(spec.format, spec.format),
        "Input": f"{width}×{height} pixels, {'colour' if spec.colour_mode == 'rgb' else 'greyscale'}",
        "Classes": f"{len(spec.labels)}: {shown}",
        "Preprocessing": "none: pixels go in as 0–255" if spec.preprocessing == "raw" else spec.preprocessing,
        "Output": _OUTPUT_WORDS.get(spec.output, spec.output),
        "Explanations": "all methods"
        if spec.differentiable
        else "SHAP (partition) and LIME only: this format gives no gradients",
    }


def assumed_in_words(spec: ModelSpec) -> list[str]:
    """What the app assumed because neither the options, the card nor the file said it (`card["guessed"]`)."""
    return [_ASSUMED[key].format(output=spec.output) for key in spec.card.get("guessed", ()) if key in _ASSUMED]
