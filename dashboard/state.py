"""Every st.cache_* call and the session's shared selection (models, images) live here.

Pages read `selected_images()` and `selected_models()` and call the cached functions; they never
touch TensorFlow or array math themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.boxes import foreground_background
from core.catalog import UPLOAD_SUFFIXES, known_models, save_upload
from core.classify import Prediction, classify
from core.errors import UserError
from core.explain import METHODS, Explanation, explain_images, warm_up
from core.images import DecodedImage, decode_image, file_safe
from core.model_files import max_bytes
from core.samples import Sample, sample_images
from core.scoring import LoadedModel, load_model, unload
from core.spec import ModelSpec

NO_MODEL = "(none)"


@dataclass(frozen=True)
class SelectedImage:
    """An image chosen in the sidebar, uploaded or sample; truth is known for generated samples."""

    image: DecodedImage
    label: str | None = None
    box: tuple[int, int, int, int] | None = None


def get_model(name: str) -> LoadedModel:
    """The loaded model of a name: this session's upload, or a known model shared by every session."""
    own = own_models()
    if name in own:
        return load_model(own[name])  # in core's cache until the session ends (see _Uploads)
    return _shared_model(name)


@st.cache_resource(show_spinner="Loading model…")
def _shared_model(name: str) -> LoadedModel:
    """One loaded, warmed-up model per known name, shared by every session and never mutated."""
    model = load_model(name)
    warm_up(model)  # behind the loading spinner, not in the first explanation's time
    return model


class _Uploads:
    """This session's uploaded model files, in one temporary folder that goes with the session: when the
    session disconnects (its session-scoped cache is released) the folder is deleted and the models unloaded.
    A finalizer does the same if the object is dropped some other way, or when the server stops."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="explain-uploads-"))
        self.specs: dict[str, ModelSpec] = {}
        self._finalizer = weakref.finalize(self, _discard_uploads, self.folder, self.specs)

    def discard(self) -> None:
        self._finalizer()  # runs once, whoever calls it first


def _discard_uploads(folder: Path, specs: dict[str, ModelSpec]) -> None:
    for spec in list(specs.values()):
        unload(spec)
    specs.clear()
    shutil.rmtree(folder, ignore_errors=True)


@st.cache_resource(scope="session", on_release=_Uploads.discard, show_spinner=False)
def _uploads() -> _Uploads:
    """The session's uploads, made on its first upload; released with the session."""
    return _Uploads()


def own_models() -> dict[str, ModelSpec]:
    """The models uploaded in this session, by their (unique) names."""
    if not st.session_state.get("_has_uploads"):
        return {}  # no folder is made for sessions that never upload a model
    return dict(_uploads().specs)


MODEL_UPLOAD_TYPES = UPLOAD_SUFFIXES
# Set to 0 (or false, no, off) by whoever runs the server to refuse every uploaded file that would need trust.
TRUST_UPLOADS_VARIABLE = "EXPLAIN_TRUST_UPLOADS"


def trusting_uploads() -> bool:
    """Whether a visitor may mark an uploaded model trusted (the server's operator can switch it off)."""
    return os.environ.get(TRUST_UPLOADS_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def max_model_upload_mb() -> int:
    """The model upload limit: the server's upload limit (`server.maxUploadSize`), at most core's model limit."""
    return max(1, min(int(st.get_option("server.maxUploadSize")), max_bytes() // 2**20))


def add_model(data: bytes, file_name: str, *, trusted: bool = False, **options) -> str:
    """Saves an uploaded model (and its card or labels file: `card`, `labels` and the other options of
    `core.catalog.save_upload`) in this session's temporary folder and returns the name it is offered under;
    ModelError with one sentence when it cannot be used. Trust only counts where the server allows it."""
    uploads = _uploads()
    st.session_state["_has_uploads"] = True
    spec = save_upload(uploads.folder, data, file_name, trusted=trusted and trusting_uploads(), **options)
    uploads.specs[spec.name] = spec
    return spec.name


# Few entries: a decoded 40-megapixel upload is 120 MB, and uploads are re-decoded cheaply if evicted.
@st.cache_data(show_spinner=False, max_entries=24, ttl=3600)
def _decode(file_id: str, _data: bytes, name: str) -> DecodedImage:
    # Keyed on the upload's id: hashing megabytes of bytes on every rerun would cost more than decoding once.
    return decode_image(_data, name)


@st.cache_data(show_spinner="Classifying…", max_entries=256)
def classify_images(
    model_name: str, image_hashes: tuple[str, ...], _images: tuple[DecodedImage, ...], k: int = 5
) -> list[list[Prediction]]:
    """Top-k predictions of one model for all images, one batched pass; cached by image content."""
    return classify(get_model(model_name), [image.pixels for image in _images], k)


@st.cache_data(show_spinner=False, max_entries=1024)
def explanation(
    model_name: str, image_hash: str, _image: DecodedImage, method: str, target: int | None, params: tuple
) -> Explanation:
    """One image's map (and default box) for one model and method; keyed by image content, method and
    parameters, so switching pages or going back never recomputes."""
    target_list = None if target is None else [target]
    return explain_images(get_model(model_name), [_image.pixels], method, target_list, dict(params))[0]


@st.cache_data(show_spinner=False, max_entries=256)
def foreground_probability(
    model_name: str, image_hash: str, method: str, params: tuple, target: int, _image: DecodedImage, _map: np.ndarray
) -> np.ndarray:
    """P(foreground | colour) (H, W) at the model's input size, from the 30%/95% saliency split (docs/methods.md) of
    the map that (model, image, method, params, target) produced."""
    pixels = get_model(model_name).spec.resize([_image.pixels])[0]
    return foreground_background(_map, pixels).probability


def explanation_key(model_name: str, image_hash: str, method: str, target: int | None, params: tuple) -> tuple:
    return (model_name, image_hash, method, target, params)


def estimated_seconds(model_name: str, method: str, params: dict, image_count: int) -> float:
    """Expected cost: the method's passes for these parameters in forward-pass equivalents (the registry's
    cost, backward passes counted) times this model's measured time per image."""
    return METHODS[method].passes(params) * get_model(model_name).seconds_per_image * image_count


@st.cache_data(show_spinner=False)
def samples() -> tuple[Sample, ...]:
    return sample_images()


def model_choices() -> dict[str, ModelSpec]:
    """Every model the pickers offer: the known ones (bundled, ImageNet, registry; some may need a download),
    then this session's uploads."""
    return {**known_models(), **own_models()}


def selected_models() -> list[str]:
    """The ready model names picked in the sidebar, A first, without duplicates or '(none)'."""
    choices = model_choices()
    chosen: list[str] = []
    for name in (st.session_state.get("model_a"), st.session_state.get("model_b")):
        if name and name != NO_MODEL and name not in chosen and name in choices and choices[name].ready:
            chosen.append(name)
    return chosen


def selected_images() -> tuple[list[SelectedImage], list[str]]:
    """Images chosen in the sidebar (uploads first, then samples), and one sentence per upload that failed."""
    images, errors = [], []
    for upload in st.session_state.get("uploads") or []:
        try:
            images.append(SelectedImage(_decode(upload.file_id, upload.getvalue(), upload.name)))
        except UserError as error:
            errors.append(str(error))
    for index, sample in enumerate(samples()):
        if st.session_state.get(f"sample_{index}"):
            images.append(SelectedImage(sample.image, sample.label, sample.box))
    # The same picture twice (uploaded again, or twice in one upload) is shown once.
    unique = {selected.image.sha256: selected for selected in reversed(images)}
    return [unique[h] for h in dict.fromkeys(selected.image.sha256 for selected in images)], errors


@dataclass(frozen=True)
class Quantised:
    """A model converted to float16 TFLite: the comparison, the file and its card, ready to download."""

    report: object  # core.quantise.QuantiseReport
    tflite: bytes
    card: bytes
    file_name: str
    card_name: str


@st.cache_data(show_spinner=False, max_entries=8)
def quantised(model_name: str) -> Quantised:
    """Converts once per model; the files are made in a temporary folder and only their bytes are kept."""
    from core.quantise import quantise

    spec = get_model(model_name).spec
    stem = file_safe(spec.name).strip("-") or "model"
    with tempfile.TemporaryDirectory(prefix="explain-quantise-") as folder:
        report = quantise(spec, Path(folder) / f"{stem}-float16.tflite", [s.image.pixels for s in samples()])
        return Quantised(
            report,
            Path(report.tflite_path).read_bytes(),
            Path(report.card_path).read_bytes(),
            f"{stem}-float16.tflite",
            f"{stem}-float16.json",
        )
