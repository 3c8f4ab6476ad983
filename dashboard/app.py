"""Streamlit entry point: the page router and the sidebar shared by every page.

streamlit run dashboard/app.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only this folder on the path; core/ and models/ sit one level up.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

import core  # noqa: E402

core.quiet_tensorflow()  # before the first page imports TensorFlow
from core import zoo  # noqa: E402
from core.catalog import registry_errors  # noqa: E402
from core.errors import UntrustedModelError, UserError  # noqa: E402
from core.images import ALLOWED_FORMATS, MAX_BYTES  # noqa: E402
from core.preprocessing import names as preprocessing_names  # noqa: E402
from core.spec import COLOUR_MODES, OUTPUT_KINDS  # noqa: E402
from dashboard import state  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
# The browser tab's icon, served by this server: a ":material/…:" page icon would make every visitor's browser
# fetch it from a font server, which fails offline and tells a third party who opened the page. (The icons beside
# the page names are drawn with the icon font Streamlit serves itself, so they stay.)
ICON = Path(__file__).resolve().parent / "icon.png"
UPLOAD_TYPES = sorted({"jpg", "jpeg", "tif", "tiff", *(f.lower() for f in ALLOWED_FORMATS)})
# Two samples are ticked on a first visit so the first page already shows something.
DEFAULT_SAMPLES = (0, 1)


def _model_label(choices: dict, name: str) -> str:
    spec = choices.get(name)
    if spec is not None and not spec.ready and spec.card.get("download_megabytes"):
        return f"{name} (ImageNet, download {spec.card['download_megabytes']} MB)"
    return name


def sidebar() -> None:
    choices = state.model_choices()
    names = list(choices)
    with st.sidebar:
        st.header("Models")
        if not any(spec.ready for spec in choices.values()):
            st.error("No model is ready: the bundled weights are missing from models/. Retrain them (see README).")
        st.selectbox(
            "Model A", names, key="model_a", index=0 if names else None, format_func=lambda n: _model_label(choices, n)
        )
        st.selectbox(
            "Model B",
            [*names, state.NO_MODEL],
            key="model_b",
            index=min(1, len(names)),
            format_func=lambda n: _model_label(choices, n),
            help="Pick (none) to look at one model only.",
        )
        for key in ("model_a", "model_b"):
            _download_if_needed(choices.get(st.session_state.get(key)), key)
        for problem in registry_errors():
            st.warning(problem)
        _add_model_form()
        st.header("Images")
        st.file_uploader(
            "Upload images",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            key="uploads",
            max_upload_size=MAX_BYTES // 2**20,
            help="Images stay in this session's memory only; nothing is written to disk.",
        )
        samples = state.samples()
        with st.expander("Sample images", expanded=True):
            columns = st.columns(2)
            for index, sample in enumerate(samples):
                with columns[index % 2]:
                    # Square thumbnails, so that every checkbox of a row sits level (the photos differ in shape).
                    st.image(state.thumbnail(sample.image), width="stretch", output_format="JPEG")
                    st.checkbox(
                        sample.caption.split(": ")[1].capitalize(),
                        key=f"sample_{index}",
                        value=index in DEFAULT_SAMPLES,
                    )


def _download_if_needed(spec, key: str) -> None:
    """A picked ImageNet model without its weights: the size, a download button and its progress; offline, one
    sentence (the other model and every page keep working)."""
    if spec is None or spec.ready:
        return
    st.info(f"{spec.name} needs its ImageNet weights ({spec.card.get('download_megabytes', '?')} MB), "
            "downloaded once and kept in the Keras cache.")  # fmt: skip
    if not st.button(f"Download {spec.name}", key=f"download_{key}", icon=":material/download:"):
        return
    bar = st.progress(0.0, text="Connecting…")

    def progress(done: int, total: int) -> None:
        share = done / total if total else 0.0
        bar.progress(min(share, 1.0), text=f"{done / 1e6:.0f} of {total / 1e6:.0f} MB" if total else "Downloading…")

    try:
        zoo.download(spec, progress)
    except UserError as error:
        bar.empty()
        st.error(str(error))
        return
    st.rerun()


def _add_model_form() -> None:
    """Upload a model file (with its card or labels) for this session only."""
    with st.expander("Add your model", expanded=bool(st.session_state.get("own_model_error"))):
        with st.form("own_model", clear_on_submit=False, border=False):
            st.file_uploader(
                "Model file",
                type=list(state.MODEL_UPLOAD_TYPES),
                key="own_model_file",
                max_upload_size=state.max_model_upload_mb(),
                help=".keras, .h5 (Keras 3 or 2), .tflite, or a SavedModel folder zipped. Kept in a temporary "
                "folder for this session only.",
            )
            st.text_input(
                "Name (optional)",
                key="own_model_name",
                placeholder="the card's name, else the file's",
                max_chars=80,
                help="The name the model is shown under in the pickers and on every page.",
            )
            st.file_uploader(
                "Card or labels file (optional)",
                type=["json", "txt"],
                key="own_model_card",
                help="The model's card (.json, as written beside bundled or converted models), or class names: "
                ".txt one per line or a .json list.",
            )
            st.text_input("Class names (optional)", key="own_model_labels", placeholder="cat, dog, fox")
            st.selectbox(
                "Preprocessing",
                [AUTO, *preprocessing_names()],
                key="own_model_preprocessing",
                help="What turns 0–255 pixels into the model's input: a preset or a keras.applications family.",
            )
            st.text_input("…or scale and offset", key="own_model_custom", placeholder="scale=0.00392,offset=0")
            st.selectbox("Colour", [AUTO, *COLOUR_MODES], key="own_model_color")
            st.selectbox("Output", [AUTO, *OUTPUT_KINDS], key="own_model_output")
            trusting = state.trusting_uploads()
            st.checkbox(
                "I trust this file",
                key="own_model_trusted",
                disabled=not trusting,
                help="Lets a model with Lambda layers, code from outside Keras, or TensorFlow operations beyond pure "
                "computation load. Such a file can run any code on this server: tick only for files whose author "
                "you trust."
                if trusting
                else "Whoever runs this server has switched off trusting uploaded files; only models that need no "
                "trust can be added.",
            )
            st.form_submit_button("Add model", on_click=_add_model, type="primary")
        if st.session_state.get("own_model_error"):
            st.error(st.session_state["own_model_error"])
    added = st.session_state.get("own_model_added")
    if added is not None:
        _added_model_note(added)


def _added_model_note(added: state.AddedModel) -> None:
    """What was just added, in full: its name (and why it differs from the one asked for), what it is, and what
    the app assumed; it stays until the next model is added or the note is closed."""
    with st.container(border=True, key="own_model_added_note"):
        renamed = f" (“{added.wanted}” was taken by another model)" if added.name != added.wanted else ""
        st.markdown(f"**Added “{added.name}”**{renamed}, now model A.")
        st.markdown("\n".join(f"- {label}: {value}" for label, value in added.facts.items()))
        if added.assumed:
            st.markdown(
                "Assumed, as neither the file nor its card says:\n" + "\n".join(f"- {a}" for a in added.assumed)
            )
        else:
            st.caption("Nothing was assumed: the file and its card say all of this.")
        st.button("Close", key="own_model_added_close", type="tertiary", on_click=st.session_state.pop,
                  args=("own_model_added", None))  # fmt: skip


AUTO = "from the card or the model"


def _add_model() -> None:
    """Form callback (runs before the page): adds the model and picks it as model A, or keeps one sentence."""
    session = st.session_state
    session["own_model_error"] = ""
    session.pop("own_model_added", None)
    upload = session.get("own_model_file")
    if upload is None:
        session["own_model_error"] = "Choose a model file first."
        return
    card = session.get("own_model_card")
    chosen = lambda key: None if session.get(key) in (None, "", AUTO) else session[key]  # noqa: E731
    try:
        added = state.add_model(
            upload.getvalue(),
            upload.name,
            name=session.get("own_model_name") or "",
            card=(card.name, card.getvalue()) if card is not None else None,
            labels=session.get("own_model_labels") or "",
            preprocessing=chosen("own_model_custom") or chosen("own_model_preprocessing"),
            colour_mode=chosen("own_model_color"),
            output=chosen("own_model_output"),
            trusted=bool(session.get("own_model_trusted")),
        )
    except UntrustedModelError as error:
        if state.trusting_uploads():
            session["own_model_error"] = error.allowed_by("tick “I trust this file”")
        else:
            session["own_model_error"] = f"{error.reason}; this server does not load such files."
        return
    except UserError as error:
        session["own_model_error"] = str(error)
        return
    session["model_a"] = added.name
    session["own_model_added"] = added


def run() -> None:
    st.set_page_config(page_title="Classifier explanations", page_icon=ICON, layout="wide")
    state.start_loading(state.default_models())  # the first time only: while the sidebar and the title are drawn
    pages = [
        st.Page(VIEWS / "classification.py", title="Classification", icon=":material/label:", default=True),
        st.Page(VIEWS / "saliency.py", title="Saliency", icon=":material/local_fire_department:"),
        st.Page(VIEWS / "boxes.py", title="Bounding boxes", icon=":material/crop_free:"),
        st.Page(VIEWS / "perturbation.py", title="SHAP and LIME", icon=":material/extension:"),
        st.Page(VIEWS / "compare.py", title="Compare models", icon=":material/compare:"),
        st.Page(VIEWS / "grid.py", title="Method grid", icon=":material/grid_view:"),
        st.Page(VIEWS / "inside.py", title="Inside the model", icon=":material/layers:"),
        st.Page(VIEWS / "report.py", title="Report", icon=":material/description:"),
        st.Page(VIEWS / "evaluation.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page(VIEWS / "batch.py", title="Batch results", icon=":material/table_view:"),
        st.Page(VIEWS / "deploy.py", title="Deployment check", icon=":material/rocket_launch:"),
        st.Page(VIEWS / "present.py", title="Presentation", icon=":material/present_to_all:"),
    ]
    page = st.navigation(pages)
    loading = [name for name in state.default_models() if not state.is_loaded(name)]
    if loading:  # the first visit after the server starts: the sidebar is drawn while they load, say so at once
        with st.spinner(f"Starting: loading {' and '.join(loading)}… (once after the server starts)", show_time=True):
            sidebar()
    else:
        sidebar()
    page.run()


run()
