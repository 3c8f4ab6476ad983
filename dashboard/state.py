"""Every st.cache_* call and the session's shared selection (models, images) live here.

Pages read `selected_images()` and `selected_models()` and call the cached functions; they never
touch TensorFlow or array math themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.boxes import foreground_background
from core.classify import Prediction, classify
from core.errors import UserError
from core.explain import METHODS, Explanation, explain_images
from core.images import DecodedImage, decode_image
from core.models import LoadedModel, ModelSpec, known_models, load_model
from core.samples import Sample, sample_images

NO_MODEL = "(none)"


@dataclass(frozen=True)
class SelectedImage:
    """An image chosen in the sidebar, uploaded or sample; truth is known for generated samples."""

    image: DecodedImage
    label: str | None = None
    box: tuple[int, int, int, int] | None = None


@st.cache_resource(show_spinner="Loading model…")
def get_model(name: str) -> LoadedModel:
    """One loaded, warmed-up model per name, shared by every session and never mutated."""
    return load_model(name)


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
    """P(foreground | colour) (H, W) at the model's input size, from the seed's 30%/95% saliency split of
    the map that (model, image, method, params, target) produced."""
    pixels = get_model(model_name).spec.resize([_image.pixels])[0]
    return foreground_background(_map, pixels).probability


def explanation_key(model_name: str, image_hash: str, method: str, target: int | None, params: tuple) -> tuple:
    return (model_name, image_hash, method, target, params)


def estimated_seconds(model_name: str, method: str, params: dict, image_count: int) -> float:
    """Expected cost from the method's model passes and this model's measured speed."""
    model = get_model(model_name)
    chosen = METHODS[method]
    factor = 3.0 if chosen.needs_gradients else 1.0  # a backward pass costs about two forwards
    return chosen.passes(params) * factor * model.seconds_per_image * image_count


@st.cache_data(show_spinner=False)
def samples() -> tuple[Sample, ...]:
    return sample_images()


def model_choices() -> dict[str, ModelSpec]:
    return {name: spec for name, spec in known_models().items() if spec.ready}


def selected_models() -> list[str]:
    """The model names picked in the sidebar, A first, without duplicates or '(none)'."""
    names = [st.session_state.get("model_a"), st.session_state.get("model_b")]
    chosen: list[str] = []
    for name in names:
        if name and name != NO_MODEL and name not in chosen:
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
