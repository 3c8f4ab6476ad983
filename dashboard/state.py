"""Every st.cache_* call and the session's shared selection (models, images) live here.

Pages read `selected_images()` and `selected_models()` and call the cached functions; they never
touch TensorFlow or array math themselves.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st

from core import render, scoring
from core.boxes import foreground_background
from core.catalog import UPLOAD_SUFFIXES, known_models, save_upload
from core.classify import Prediction, classify
from core.errors import ModelError, UserError
from core.explain import METHODS, Explanation, explain_images, load_in_background, warm_up_in_background
from core.images import DecodedImage, clean_name, decode_image, file_safe
from core.model_files import max_bytes
from core.progress import Progress, Stopped
from core.render import (
    blend,
    colour_bar,
    colour_limit,
    colour_limits,
    colourise,
    display_size,
    framed,
    overlay_layer,
    picture_file,
    square_thumbnail,
    with_boxes,
)
from core.samples import Sample, sample_images
from core.scoring import LoadedModel, load_model, unload
from core.spec import ModelSpec, assumed_in_words, facts_in_words

NO_MODEL = "(none)"


@dataclass(frozen=True)
class SelectedImage:
    """An image chosen in the sidebar, uploaded or sample; truth is known for generated samples."""

    image: DecodedImage
    label: str | None = None
    box: tuple[int, int, int, int] | None = None
    truth: object | None = None  # core.trust.localisation.Truth with part masks, for generated samples


def get_model(name: str) -> LoadedModel:
    """The loaded model of a name: this session's upload, or a known model shared by every session."""
    own = own_models()
    if name in own:
        return load_model(own[name])  # in core's cache until the session ends (see _Uploads)
    return _shared_model(name)


@st.cache_resource(show_spinner=False)  # the pages say which model is loading (`is_loaded`)
def _shared_model(name: str) -> LoadedModel:
    """One loaded model per known name, shared by every session and never mutated; its explanations' compiles
    run in the background (predictions need none of them)."""
    model = load_model(name)
    if name not in default_models():  # those are warmed up by `start_loading`, after the first page's predictions
        warm_up_in_background(model, then=_freeze_long_lived)
    return model


def _freeze_long_lived() -> None:
    """Moves every object alive now out of the garbage collector's reach: TensorFlow, the shared models and their
    compiled functions, some 430,000 objects that live as long as the server. Streamlit runs a full collection
    after every script run (`runner.postScriptGC`), and scanning them took about 240 ms of each rerun; frozen, the
    collection scans only what came after them. An uploaded model, the one thing discarded before the server
    stops, is unfrozen first (`_discard_uploads`), so nothing leaks."""
    with _freezing:
        gc.collect()
        gc.freeze()


_freezing = threading.Lock()


def is_loaded(name: str) -> bool:
    """Whether the model of that name is loaded in this process (else a page says it is loading it)."""
    own = own_models()
    return scoring.is_loaded(own[name] if name in own else name)


@st.cache_resource(show_spinner=False)
def start_loading(names: tuple[str, ...]) -> threading.Thread:
    """Once per server process, at its first page view: loads the models a first visitor sees, in a background
    thread, while the page draws its sidebar; then compiles what their explanations need."""
    return load_in_background(list(names), then=_freeze_long_lived)


def default_models() -> tuple[str, ...]:
    """The models picked on a first visit (model A and model B: the first two known), those that are ready."""
    known = known_models()
    return tuple(name for name in list(known)[:2] if known[name].ready)


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
    had_models = bool(specs)
    while specs:  # no name is left holding the last one while it is collected below
        unload(specs.popitem()[1])
    shutil.rmtree(folder, ignore_errors=True)
    if had_models:  # a model frozen with the shared ones (`_freeze_long_lived`) is collected only once unfrozen
        with _freezing:
            gc.unfreeze()
            gc.collect()
            gc.freeze()


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


class _UploadNames:
    """The names uploaded models are offered under, for the whole server: a name, once given to a model (its
    content and options, `key`), is never given to another, because every cache is keyed by model name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}

    def claim(self, wanted: str, key: str, taken: set[str]) -> str:
        """`wanted`, or `wanted (2)`, `(3)`… when another model holds it or it is in `taken`."""
        with self._lock:
            for number in range(1, 10_000):
                name = wanted if number == 1 else f"{wanted} ({number})"
                if name not in taken and self._keys.setdefault(name, key) == key:
                    return name
        raise ModelError(f"Too many models are called {wanted}; choose another name.")


@st.cache_resource(show_spinner=False)
def _upload_names() -> _UploadNames:
    return _UploadNames()


@dataclass(frozen=True)
class AddedModel:
    """An uploaded model as it was added: its name, what it is, and what the app assumed about it."""

    name: str
    wanted: str  # the name asked for (or the card's, or the file's): differs from `name` when it was taken
    facts: dict[str, str]
    assumed: list[str]


def add_model(data: bytes, file_name: str, *, name: str = "", trusted: bool = False, **options) -> AddedModel:
    """Saves an uploaded model (and its card or labels file: `card`, `labels` and the other options of
    `core.catalog.save_upload`) in this session's temporary folder and offers it under `name` (else its card's
    name, else the file's), made unique across the server; ModelError with one sentence when it cannot be used.
    Trust only counts where the server allows it."""
    uploads = _uploads()
    st.session_state["_has_uploads"] = True
    spec = save_upload(uploads.folder, data, file_name, trusted=trusted and trusting_uploads(), **options)
    # save_upload's name (file stem and a hash of the bytes and options) tells two models apart; people see theirs.
    wanted = clean_name(" ".join(name.split())) if name.strip() else ""
    wanted = wanted or spec.card.get("name") or clean_name(file_name).rsplit(".", 1)[0] or "model"
    others = {*known_models(), *(n for n, s in uploads.specs.items() if s.path != spec.path)}
    spec = replace(spec, name=_upload_names().claim(wanted[:80], spec.name, others))
    uploads.specs[spec.name] = spec
    return AddedModel(spec.name, wanted[:80], facts_in_words(spec), assumed_in_words(spec))


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
    model_name: str,
    image_hash: str,
    _image: DecodedImage,
    method: str,
    target: int | None,
    params: tuple,
    _progress: Progress | None = None,
) -> Explanation:
    """One image's map (and default box) for one model and method; keyed by image content, method and
    parameters, so switching pages or going back never recomputes. `_progress` counts the model passes and
    stops them when asked: a stopped run raises `Stopped`, and nothing is cached."""
    target_list = None if target is None else [target]
    model = get_model(model_name)
    return explain_images(model, [_image.pixels], method, target_list, dict(params), progress=_progress)[0]


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


# --- Can the map be trusted? Deletion and insertion, localisation, the sanity check (core.trust) ----------------


def truth_of(selected: SelectedImage):
    """Where the object is in a selected image (core.trust.localisation.Truth): a generated sample's box and part
    masks, an evaluated image's box; None where nobody knows."""
    from core.trust.localisation import Truth

    if selected.truth is not None:
        return selected.truth
    if selected.box is None:
        return None
    return Truth(tuple(float(v) for v in selected.box), tuple(selected.image.pixels.shape[:2]))


def faithfulness_passes(references: int, steps: int) -> int:
    """Model passes of one map's deletion and insertion with its random maps, the blob and `references` more."""
    from core.trust.faithfulness import report_passes

    return report_passes(references, steps)


@st.cache_data(show_spinner=False, max_entries=512)
def faithfulness(
    model_name: str,
    image_hash: str,
    method: str,
    params: tuple,
    target: int,
    substrate: str,
    steps: int,
    reference_keys: tuple,
    _image: DecodedImage,
    _map: np.ndarray,
    _references: dict | None = None,
    _progress: Progress | None = None,
):
    """Deletion and insertion of the map that (model, image, method, params, target) produced, beside random maps,
    a centred blob and `_references` (named maps, identified in the key by `reference_keys`: the explanation keys
    of the maps they are); core.trust.faithfulness.FaithfulnessReport. Stopped through `_progress` raises and caches
    nothing."""
    from core.progress import reporting
    from core.trust.faithfulness import faithfulness_report

    model = get_model(model_name)
    pixels = model.spec.resize([_image.pixels])[0]
    with reporting(_progress):  # its model passes count into `_progress`, which stops them when asked
        return faithfulness_report(
            model,
            pixels,
            target,
            _map,
            references=_references,
            steps=steps,
            substrate=substrate,
            should_stop=None if _progress is None else (lambda: _progress.stopping),
        )


@st.cache_data(show_spinner=False, max_entries=512)
def localisation(
    model_name: str, image_hash: str, method: str, params: tuple, target: int, truth_key: tuple, _map, _truth
):
    """Pointing game, energy in the box, box IoU and part shares of that map against the image's truth
    (`truth_key`: its box and whether it has part masks), beside random, blob and uniform maps."""
    from core.trust.localisation import localisation_report

    return localisation_report(_map, _truth)


def truth_key(truth) -> tuple:
    return (tuple(round(float(v), 2) for v in truth.box), tuple(truth.size), truth.parts is not None)


def sanity_passes(model_name: str, method: str, params: dict, steps: int) -> int:
    """Model passes of one image's sanity check (the original map and one per step of this model's cascade)."""
    from core.trust.sanity import cascade_steps
    from core.trust.sanity import sanity_passes as passes

    return passes(method, params, cascade_steps(get_model(model_name), steps))


@st.cache_data(show_spinner=False, max_entries=32)
def sanity(
    model_name: str,
    image_hash: str,
    method: str,
    params: tuple,
    target: int,
    steps: int,
    _image: DecodedImage,
    _progress: Progress | None = None,
):
    """The cascading randomisation test of that map and the edge detector's (core.trust.sanity.ImageSanity)."""
    from core.trust.sanity import sanity_check

    model = get_model(model_name)
    pixels = model.spec.resize([_image.pixels])
    from core.progress import reporting

    stop = None if _progress is None else (lambda: _progress.stopping)
    with reporting(_progress):
        return sanity_check(model, pixels, np.array([target]), method, dict(params), steps=steps, should_stop=stop)[0]


def sanity_picture(sanity_key: tuple, result, signed: bool) -> bytes:
    """core.trust.sanity.sanity_strip of a kept sanity check (`sanity_key`: the arguments it was kept under), PNG."""
    from core.trust.sanity import sanity_strip

    return _drawn().get(
        ("sanity", *sanity_key, signed), lambda: picture_file(sanity_strip(result, signed=signed), photo=False)
    )


def estimated_seconds(model_name: str, method: str, params: dict, image_count: int) -> float:
    """Expected cost: the method's passes for these parameters in forward-pass equivalents (the registry's
    cost, backward passes counted) times this model's measured time per image."""
    return METHODS[method].passes(params) * get_model(model_name).seconds_per_image * image_count


@st.cache_data(show_spinner=False)
def samples() -> tuple[Sample, ...]:
    return sample_images()


def shortcut_story() -> SelectedImage:
    """The image of the honest model and the cheating one (core.samples.shortcut_story), with its truth."""
    from core.samples import shortcut_story as story

    sample = story()
    return SelectedImage(sample.image, sample.label, sample.box, sample.truth)


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
            images.append(SelectedImage(sample.image, sample.label, sample.box, sample.truth))
    # The same picture twice (uploaded again, or twice in one upload) is shown once.
    unique = {selected.image.sha256: selected for selected in reversed(images)}
    return [unique[h] for h in dict.fromkeys(selected.image.sha256 for selected in images)], errors


@dataclass(frozen=True)
class Float16Files:
    """A model converted to float16 TFLite: the file and its card, ready to download."""

    tflite: bytes
    card: bytes
    file_name: str
    card_name: str


@dataclass(frozen=True)
class Quantised:
    """A model's float16 files and their comparison with the original on the chosen images."""

    report: object  # core.quantise.QuantiseReport
    files: Float16Files


@st.cache_data(show_spinner=False, max_entries=8)
def float16_files(model_name: str) -> Float16Files:
    """Converts once per model; the files are made in a temporary folder and only their bytes are kept."""
    from core.quantise import export_float16

    spec = get_model(model_name).spec
    stem = file_safe(spec.name).strip("-") or "model"
    with tempfile.TemporaryDirectory(prefix="explain-quantise-") as folder:
        tflite, card = export_float16(spec, Path(folder) / f"{stem}-float16.tflite")
        return Float16Files(tflite.read_bytes(), card.read_bytes(), tflite.name, card.name)


@st.cache_data(show_spinner=False, max_entries=32)
def quantised(model_name: str, image_hashes: tuple[str, ...], _images: tuple[DecodedImage, ...]) -> Quantised:
    """The model's float16 version beside the original on these images (the user's selection), keyed by their
    content: converted once per model, compared once per set of images."""
    from core.quantise import compare_float16

    files = float16_files(model_name)
    with tempfile.TemporaryDirectory(prefix="explain-quantise-") as folder:
        tflite = Path(folder) / files.file_name
        tflite.write_bytes(files.tflite)
        tflite.with_suffix(".json").write_bytes(files.card)
        spec = get_model(model_name).spec
        report = compare_float16(spec, tflite, [i.pixels for i in _images], [i.name for i in _images])
    return Quantised(report, files)


@st.cache_data(show_spinner="Drawing the report…", max_entries=16)
def report_html(key: tuple, _comparison, shared: bool, opacity: float, curves: bool = True) -> str:
    """The report's HTML for the Report page's preview and download, drawn once per `key` (the images, models,
    methods, parameters, top-k % and trust checks' settings the comparison was made from)."""
    from core.report import render_report

    return render_report(_comparison, shared=shared, opacity=opacity, curves=curves)


# --- Evaluate page: labelled sets, their scores, and evaluated images joining the selection --------------------

# Set to 0 (or false, no, off) by whoever runs the server to stop visitors reading folders on it by path.
SERVER_FOLDERS_VARIABLE = "EXPLAIN_SERVER_FOLDERS"
EVALUATION_ZIP_MB = 200  # a zipped set's upload limit; it may unpack to core.evaluation.data.MAX_ZIP_BYTES


def server_folders_allowed() -> bool:
    """Whether a visitor may evaluate a folder on the server by its path (the operator can switch it off)."""
    return os.environ.get(SERVER_FOLDERS_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


@st.cache_resource(show_spinner=False)
def score_cache():
    """Every model's probabilities on every evaluated image, by image content and model file stamp, shared by
    all sessions (the same picture gets the same scores whoever uploads it)."""
    from core.evaluation import ScoreCache

    return ScoreCache(max_bytes=512 * 2**20)


class _EvaluationFolder:
    """This session's unpacked zipped sets, in one temporary folder deleted when the session ends."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="explain-evaluation-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.folder, True)

    def discard(self) -> None:
        self._finalizer()


@st.cache_resource(scope="session", on_release=_EvaluationFolder.discard, show_spinner=False)
def _evaluation_folder() -> _EvaluationFolder:
    return _EvaluationFolder()


def evaluation_set_from_zip(file_id: str, data: bytes, name: str):
    """A zipped labelled set, unpacked (after core's zip checks) into this session's temporary folder once per
    upload, and read; DataError in one sentence."""
    from core.evaluation import extract_zip, read_set

    folder = _unzipped_once("_evaluation_zips", _evaluation_folder().folder, file_id, data, extract_zip)
    return read_set(folder, clean_name(name))


def _unzipped_once(memo_key: str, root: Path, file_id: str, data: bytes, extract) -> Path:
    """The folder under `root` that `extract(data, folder)` unpacked this upload into, once per upload and one
    upload at a time (an earlier upload's folder goes); nothing is left of an upload `extract` refused."""
    memo = st.session_state.setdefault(memo_key, {})
    if file_id not in memo:
        folder = root / file_safe(file_id)[:40]
        shutil.rmtree(folder, ignore_errors=True)
        try:
            extract(data, folder)
        except UserError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        memo.clear()
        for old in root.iterdir():
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        memo[file_id] = folder
    return memo[file_id]


def scored_set(key: tuple, labelled, model_names: list[str], tta: str, progress=None):
    """The set scored by the models (core.evaluation.score_set): the shared cache spares what any session scored
    before; the result is kept for this session under `key` (the set, models and TTA), so moving a slider does
    not even re-read the files."""
    from core.evaluation import score_set

    memo = st.session_state.setdefault("_evaluation_scored", {})
    if key not in memo:
        models = [get_model(name) for name in model_names]
        scored = score_set(labelled, models, tta=tta, cache=score_cache(), progress=progress)
        memo.clear()  # the latest only: a set of 50,000 images at 1,000 classes is large
        memo[key] = scored
    return memo[key]


@st.cache_data(show_spinner=False, max_entries=2048)
def evaluation_thumbnail(sha256: str, path: str, name: str, side: int = 160) -> np.ndarray | None:
    """A gallery picture, at most `side` pixels, keyed by content; None when it cannot be read."""
    from PIL import Image

    from core.evaluation.data import LabelledImage, load_image

    try:
        pixels = load_image(LabelledImage(Path(path), name, "")).pixels
    except UserError:
        return None
    picture = Image.fromarray(pixels)
    picture.thumbnail((side, side))
    return np.asarray(picture)


def evaluation_subset(set_key: tuple, labelled, count: int) -> list[SelectedImage]:
    """`count` images spread evenly over a labelled set (core.trust.summary.spread, as `evaluate --metrics` takes
    them), decoded, each with its truth where the set knows it (the box, and a generated set's part mask); kept for
    the session by set and count. Unreadable ones are left out."""
    from core.evaluation.data import load_image
    from core.trust.summary import labelled_truth, spread

    memo = st.session_state.setdefault("_evaluation_subsets", {})
    key = (*set_key, int(count))
    if key not in memo:
        chosen = []
        for index in spread(int(count), len(labelled.images)):
            image = labelled.images[index]
            try:
                decoded = load_image(image)
            except UserError:
                continue
            truth = labelled_truth(image, *decoded.pixels.shape[:2])
            chosen.append(SelectedImage(decoded, image.label, image.box, truth))
        memo.clear()
        memo[key] = chosen
    return memo[key]


EVALUATED_KEY = "evaluated_images"


def choose_evaluated(image: SelectedImage) -> None:
    """An image from the Evaluate page becomes the selected image of the explanation pages: it is put first,
    any earlier one from the evaluation goes, and the sample images are unticked."""
    st.session_state[EVALUATED_KEY] = [image]
    for index in range(len(samples())):
        st.session_state[f"sample_{index}"] = False


def evaluated_images() -> list[SelectedImage]:
    """The image chosen on the Evaluate page (with its true class and box), if any."""
    return list(st.session_state.get(EVALUATED_KEY) or [])


def forget_evaluated() -> None:
    st.session_state.pop(EVALUATED_KEY, None)


class _Drawn:
    """Pictures drawn for the pages, shared by every session and keyed by what they show (small strings and
    numbers, never arrays: hashing arrays on every rerun would cost as much as drawing); the least recently used
    go first once they hold more than `budget` bytes. Arrays kept here are read-only, as they are shared."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: two sessions may draw the same picture once each, never wait on each other
        size = _size(value)
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
            while self._bytes > self.budget and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
        return value


def _size(value) -> int:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return value.nbytes
    if isinstance(value, bytes):
        return len(value)
    if hasattr(value, "nbytes"):  # an OverlayLayer
        for array in (value.index, value.colours, value.weight):
            array.flags.writeable = False
        return value.nbytes
    return 64  # numbers and short tuples


# Layers take 5 bytes a pixel (2 MB for a 640-pixel picture), encoded pictures a tenth of that: this keeps the
# pictures of a few pages of 8 images and 2 models at several opacities.
DRAWN_BUDGET = 256 * 2**20


@st.cache_resource(show_spinner=False)
def _drawn() -> _Drawn:
    # Made by the sidebar's thumbnails on the first visit: the blend compiles while the user picks a page.
    render.warm_up()
    return _Drawn(DRAWN_BUDGET)


def map_digest(raw: np.ndarray) -> str:
    """A short fingerprint of a map's values, shape and type, to key what is drawn from it."""
    raw = np.ascontiguousarray(raw)
    digest = hashlib.blake2b(raw.view(np.uint8).data, digest_size=12)
    digest.update(f"{raw.dtype.str}{raw.shape}".encode())
    return digest.hexdigest()


def shown_image(image: DecodedImage, side: int = 640) -> np.ndarray:
    """The image at display size (core.render.display_size), made once per image and side; read-only."""

    def shown() -> np.ndarray:
        picture = display_size(image.pixels, side)
        # An image already at display size comes back as itself: keep a copy, as kept arrays are made read-only.
        return picture.copy() if picture is image.pixels else picture

    return _drawn().get(("shown", image.sha256, side), shown)


def shown_file(image: DecodedImage, side: int = 640) -> bytes:
    """The image at display size as JPEG bytes, made once per image and side."""
    return _drawn().get(("shown file", image.sha256, side), lambda: picture_file(shown_image(image, side), photo=True))


def thumbnail(image: DecodedImage) -> bytes:
    """The image's square thumbnail (core.render.square_thumbnail) as JPEG bytes, made once per image."""
    return _drawn().get(("thumbnail", image.sha256), lambda: picture_file(square_thumbnail(image.pixels), photo=True))


def limits_of(
    maps: Mapping[tuple[Hashable, Hashable], np.ndarray], digests: Mapping, signed: bool, scale: str
) -> dict[tuple[Hashable, Hashable], float]:
    """core.render.colour_limits of the maps, keyed by their digests (same keys as `maps`), worked out once."""
    key = ("limits", signed, scale, tuple((k, digests[k]) for k in maps))
    return _drawn().get(key, lambda: colour_limits(maps, signed, scale))


def agreement(first: np.ndarray, second: np.ndarray, *scores, **options):
    """core.agreement.agreement of two maps, worked out once per pair of maps and the rest of its arguments (a rank
    correlation and two top regions of every image's maps took most of a rerun of the Compare page)."""
    from core.agreement import agreement as agreement_of

    key = ("agreement", map_digest(first), map_digest(second), scores, tuple(sorted(options.items())))
    return _drawn().get(key, lambda: agreement_of(first, second, *scores, **options))


def own_limit(raw: np.ndarray, digest: str, signed: bool) -> float:
    """core.render.colour_limit of one map, worked out once."""
    return _drawn().get(("limit", digest, signed), lambda: colour_limit(raw, signed))


def overlay_picture(
    image: DecodedImage,
    raw: np.ndarray,
    digest: str,
    limit: float,
    signed: bool,
    *,
    opacity: float,
    colourmap: str | None,
    exponent: float,
    side: int = 640,
    fit=None,
    true_box=None,
    encoded: bool = True,
) -> bytes | np.ndarray:
    """core.render.explanation_picture of the map (`digest` its map_digest) on the image at display size, with the
    box `fit` to it and the image's `true_box` where given: JPEG bytes, drawn once, or with `encoded` False the
    (H, W, 3) uint8 picture itself (for a download). The coloured layer is kept apart from the opacity, so a new
    opacity only blends."""
    layer_key = ("layer", image.sha256, side, digest, limit, signed, colourmap, exponent)

    def picture() -> np.ndarray:
        def layer():
            height, width = shown_image(image, side).shape[:2]
            return overlay_layer(height, width, raw, limit, signed, colourmap=colourmap, exponent=exponent)

        blended = blend(shown_image(image, side), _drawn().get(layer_key, layer), opacity)
        return with_boxes(blended, fit, true_box, image.width, image.height)

    if not encoded:
        return picture()
    key = ("overlay", *layer_key, opacity, _box_key(fit), _box_key(true_box))
    return _drawn().get(key, lambda: picture_file(picture(), photo=True))


def _box_key(box) -> tuple | None:
    """What identifies a box (or a core.boxes.BoxFit, by its box and centroid) in a key."""
    if box is None:
        return None
    if hasattr(box, "centroid"):
        return (*_box_key(box.box), *(round(float(v), 3) for v in box.centroid))
    return tuple(round(float(v), 3) for v in box)


def colour_bar_picture(signed: bool, colourmap: str | None, exponent: float) -> bytes:
    """core.render.colour_bar as PNG bytes."""
    key = ("colour bar", signed, colourmap, exponent)
    return _drawn().get(key, lambda: picture_file(colour_bar(signed, colourmap, exponent), photo=False))


def raw_picture(raw: np.ndarray, digest: str, limit: float, signed: bool, colourmap: str | None) -> bytes:
    """The raw map coloured and framed (core.render.colourise, framed) as PNG bytes."""
    key = ("raw", digest, limit, signed, colourmap)
    return _drawn().get(key, lambda: picture_file(framed(colourise(raw, limit, signed, colourmap)), photo=False))


# --- Inside the model: class models, feature maps, filter patterns, exciting patches ----------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def inside_layers(model_name: str) -> list:
    """The layers the inside-the-model page offers for a model (core.inside.layers.LayerInfo), in running order."""
    from core.inside.layers import spatial_layers

    return spatial_layers(get_model(model_name))


@st.cache_data(show_spinner=False, max_entries=8)
def inside_default_layer(model_name: str) -> str:
    from core.inside.layers import default_layer

    return default_layer(get_model(model_name))


@st.cache_data(show_spinner="Reading the layer…", max_entries=256)
def layer_feature_maps(model_name: str, image_hash: str, _image: DecodedImage, layer: str):
    """One image's feature maps at a layer (core.inside.features.FeatureMaps), keyed by image content."""
    from core.inside.features import feature_maps

    return feature_maps(get_model(model_name), _image.pixels, layer)


class _ClassModels:
    """Finished class models by (model, class, preset, steps), shared by every session: each costs seconds to
    minutes, and the same request gives the same picture. The oldest go first beyond `size`."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._results: dict[tuple, object] = {}

    def get(self, key: tuple):
        with self._lock:
            return self._results.get(key)

    def put(self, key: tuple, result) -> None:
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.size:
                self._results.pop(next(iter(self._results)))


@st.cache_resource(show_spinner=False)
def _class_models() -> _ClassModels:
    return _ClassModels()


def class_model_key(model_name: str, target: str, preset: str, steps: int) -> tuple:
    return (model_name, target, preset, int(steps))


def cached_class_model(model_name: str, target: str, preset: str, steps: int):
    """The finished class model for these choices, or None (never computes)."""
    return _class_models().get(class_model_key(model_name, target, preset, steps))


def draw_class_model(model_name: str, target: str, preset: str, steps: int, progress: Progress | None = None):
    """Computes a class model (core.inside.class_model.ClassModel), kept for every session. `progress` counts its
    steps, holds the latest picture as `progress.latest` (core.inside.ascent.Progress, every 10 steps) and stops
    the ascent at its next 10 steps when asked: then Stopped is raised and nothing is kept."""
    from core.inside.class_model import class_model

    key = class_model_key(model_name, target, preset, steps)
    result = _class_models().get(key)
    if result is None:
        result = class_model(get_model(model_name), target, preset, steps, chunk=10, **_ascent_hooks(progress))
        if result.stopped:
            raise Stopped(f"The class model of {target} by {model_name} was stopped.")
        _class_models().put(key, result)
    return result


def _ascent_hooks(progress: Progress | None) -> dict:
    """The `progress` and `stop` arguments of an ascent that report into a core.progress.Progress."""
    if progress is None:
        return {}

    def seen(state) -> None:
        progress.latest = state
        progress.done = float(state.step)

    return {"progress": seen, "stop": lambda: progress.stopping}


@st.cache_data(show_spinner=False, max_entries=256)  # asked again on every rerun of the pages that show it
def probability_of(model_name: str, pixels: np.ndarray, label: str) -> float | None:
    """What a model says of a picture (any size, RGB uint8): the probability of `label`, None when it is not one of
    its classes."""
    model = get_model(model_name)
    if label not in model.spec.labels:
        return None
    sized = model.spec.resize([pixels])
    return float(model.probabilities(sized)[0, model.spec.labels.index(label)])


def seconds_per_ascent_step(model_name: str) -> float:
    """Expected time of one ascent step of one image: a forward and a backward pass, three forward passes."""
    return 3 * get_model(model_name).seconds_per_image


@st.cache_data(show_spinner=False, max_entries=64)
def layer_filter_patterns(model_name: str, layer: str, count: int, steps: int, _progress: Progress | None = None):
    """The first `count` filters' patterns of a layer (core.inside.filters.FilterPatterns); `_progress` as for
    draw_class_model: a stopped run raises Stopped, and nothing is cached."""
    from core.inside.filters import filter_patterns

    patterns = filter_patterns(get_model(model_name), layer, count=count, steps=steps, **_ascent_hooks(_progress))
    if patterns.stopped:
        raise Stopped(f"The filter patterns of {layer} ({model_name}) were stopped.")
    return patterns


PATCH_SOURCES = ("sample images", "the bundled labelled set (200 generated dogs)")


@st.cache_data(show_spinner=False, max_entries=4)
def _patch_source_images(source: str) -> list[np.ndarray]:
    if source == PATCH_SOURCES[0]:
        return [sample.image.pixels for sample in samples()]
    from core.evaluation import bundled_set
    from core.evaluation.data import load_image

    return [load_image(image).pixels for image in bundled_set().images]


def patch_source_size(source: str) -> int:
    """How many images the patches are looked for among (the forward passes to expect)."""
    return len(_patch_source_images(source))


@st.cache_data(show_spinner=False, max_entries=64)
def filter_patches(
    model_name: str, layer: str, filter_index: int, count: int, source: str, _progress: Progress | None = None
):
    """The `count` patches of the source images where a filter is most active, and the model-sized images; its
    forward passes count into `_progress` (by the batch loop), which stops them when asked."""
    from core.inside.patches import exciting_patches

    images = _patch_source_images(source)
    return exciting_patches(get_model(model_name), images, layer, filter_index, count=count)


# --- Batch results page: a batch run's output folder, given by path on the server or zipped --------------------


@st.cache_resource(scope="session", on_release=_EvaluationFolder.discard, show_spinner=False)
def _batch_folder() -> _EvaluationFolder:
    return _EvaluationFolder()


def batch_results_from_zip(file_id: str, data: bytes) -> Path:
    """A zipped output folder, unpacked (after core's zip checks) into this session's temporary folder once per
    upload; ResultsError in one sentence."""
    from core.batch.results import extract_results_zip

    return _unzipped_once("_batch_zips", _batch_folder().folder, file_id, data, extract_results_zip)


def batch_results(folder: str):
    """The results in `folder` (core.batch.results.open_results), read again only when the run wrote more."""
    from core.batch.table import MANIFEST, PARTS, TABLE

    version = []
    for name in (TABLE, PARTS, MANIFEST):
        try:
            version.append((Path(folder) / name).stat().st_mtime_ns)
        except OSError:
            version.append(None)
    return _batch_results(folder, tuple(version))


@st.cache_data(show_spinner="Reading the results…", max_entries=8, ttl=3600)
def _batch_results(folder: str, version: tuple):
    from core.batch.results import open_results

    return open_results(folder)


@st.cache_data(show_spinner=False, max_entries=256)
def batch_map_picture(folder: str, relative: str, signed: bool) -> np.ndarray | None:
    """A row's raw map coloured on its own scale (uint8), or None when its file is missing."""
    from core.batch.results import map_array
    from core.render import colour_limit, colourise

    raw = map_array(Path(folder), relative)
    return None if raw is None else colourise(raw, colour_limit(raw, signed), signed)
