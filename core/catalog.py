"""Where models come from, the only place that knows: the bundled demo pair, the ImageNet pair of
`core.zoo`, the registry file (`registry_path`), a session's uploads (`save_upload`), and any file or
folder given by path. `resolve` turns a name or a path into a spec for the command line, the
dashboard and the tests alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from core import zoo
from core.errors import ModelError
from core.images import clean_name, file_safe
from core.spec import MODELS_DIR, ModelSpec, labels_from, spec_from_file, text_or_none

# The demo pair, then a model deliberately trained to take a shortcut (its card says so; docs/methods.md).
BUNDLED = ("demo-resnet", "demo-efficientnet", "demo-shortcut")
# The registry of users' models: this file, or the one named by the MODEL_REGISTRY environment variable.
DEFAULT_REGISTRY = MODELS_DIR / "registry.json"
# File suffixes of models a person can upload (a SavedModel folder is uploaded zipped).
UPLOAD_SUFFIXES = ("keras", "h5", "hdf5", "tflite", "zip")


def known_models() -> dict[str, ModelSpec]:
    """Every model the app can offer, by name: the bundled ones, the ImageNet pair (`ready` once their
    weights are downloaded, see `core.zoo`), then the registry's entries (`registry_path`). A broken
    registry entry is left out and its reason kept in `registry_errors()`."""
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


def resolve(name_or_path: str | Path, **options) -> ModelSpec:
    """A known model by name, else the model file, SavedModel folder or card at that path, read with
    `options` (those of `core.spec.spec_from_file`); ModelError naming the known models otherwise."""
    specs = known_models()
    if str(name_or_path) in specs:
        return specs[str(name_or_path)]
    if Path(name_or_path).exists():
        return spec_from_file(name_or_path, **options)
    known = ", ".join(specs) or "none"
    raise ModelError(f"There is no model called '{name_or_path}' and no file at that path; known models: {known}.")


def registry_path() -> Path:
    """The registry file: $MODEL_REGISTRY if set, else models/registry.json (which git ignores)."""
    return Path(os.environ.get("MODEL_REGISTRY") or DEFAULT_REGISTRY)


def registry_errors() -> list[str]:
    """One sentence per registry entry that `known_models()` leaves out (unreadable, or a name taken)."""
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
                    name=text_or_none(entry.get("name"), "name"),
                    labels=labels,
                    preprocessing=text_or_none(entry.get("preprocessing"), "preprocessing"),
                    colour_mode=text_or_none(entry.get("color_mode"), "color_mode"),
                    output=text_or_none(entry.get("output"), "output"),
                    trusted=entry.get("trusted") is True,
                    gradcam_layer=text_or_none(entry.get("gradcam_layer"), "gradcam_layer"),
                )
            )
        except ModelError as error:
            errors.append(f"Registry entry {entry.get('name') or entry['path']}: {error}")
    return tuple(specs), tuple(errors)


def is_model_card(data: bytes) -> bool:
    """A model card (a JSON object with a model 'file' or a 'labels' list), as opposed to a labels file."""
    try:
        card = json.loads(data)
    except ValueError:
        return False
    return isinstance(card, dict) and ("file" in card or isinstance(card.get("labels"), list))


def save_upload(
    folder: Path,
    data: bytes,
    file_name: str,
    *,
    card: tuple[str, bytes] | None = None,
    labels: str = "",
    **options,
) -> ModelSpec:
    """Saves an uploaded model (and its card or labels file) in a folder of its own under `folder` and reads its
    spec (`options` as for `spec_from_file`). The name it is offered under carries a hash of the bytes and
    options, so two uploads never share a cache entry; ModelError with one sentence when it cannot be used,
    and then nothing of it stays on disk."""
    settings = repr((labels, card and hashlib.sha256(card[1]).hexdigest(), sorted(options.items())))
    digest = hashlib.sha256(data + settings.encode()).hexdigest()[:8]
    name = clean_name(file_name)
    stem, _, suffix = name.rpartition(".")
    stem, suffix = (stem or suffix), (suffix.lower() if stem else "")
    own = Path(folder) / digest
    own.mkdir(parents=True, exist_ok=True)
    # Saved under the user's own file name (made safe), so that messages about the file name it.
    file_stem = file_safe(stem).strip("-") or "model"
    path = own / f"{file_stem}.{'h5' if suffix == 'hdf5' else suffix or 'bin'}"
    path.write_bytes(data)
    label_source = labels_from(labels) if labels.strip() else None
    if card is not None:
        card_name, card_bytes = card
        if is_model_card(card_bytes):
            path.with_suffix(".json").write_bytes(card_bytes)  # spec_from_file reads the card beside the model
        else:
            labels_path = own / f"{file_stem}-labels{Path(clean_name(card_name)).suffix.lower() or '.txt'}"
            labels_path.write_bytes(card_bytes)
            label_source = label_source or labels_path
    try:
        spec = spec_from_file(path, name=f"{stem} ({digest[:6]})", labels=label_source, **options)
    except ModelError:
        shutil.rmtree(own, ignore_errors=True)
        raise
    return replace(spec, card={**spec.card, "file": name, "uploaded": True})
