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

from core.images import ALLOWED_FORMATS, MAX_BYTES  # noqa: E402
from dashboard import state  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
UPLOAD_TYPES = sorted({"jpg", "jpeg", "tif", "tiff", *(f.lower() for f in ALLOWED_FORMATS)})
# Two samples are ticked on a first visit so the first page already shows something.
DEFAULT_SAMPLES = (0, 1)


def sidebar() -> None:
    choices = list(state.model_choices())
    with st.sidebar:
        st.header("Models")
        if not choices:
            st.error("No model is ready: the bundled weights are missing from models/. Retrain them (see README).")
        st.selectbox("Model A", choices, key="model_a", index=0 if choices else None)
        st.selectbox(
            "Model B",
            [*choices, state.NO_MODEL],
            key="model_b",
            index=min(1, len(choices)),
            help="Pick (none) to look at one model only.",
        )
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
                    st.image(sample.image.pixels, width="stretch")
                    st.checkbox(
                        sample.caption.split(": ")[1].capitalize(),
                        key=f"sample_{index}",
                        value=index in DEFAULT_SAMPLES,
                    )


def run() -> None:
    st.set_page_config(page_title="Classifier explanations", page_icon=":material/search_insights:", layout="wide")
    pages = [
        st.Page(VIEWS / "classification.py", title="Classification", icon=":material/label:", default=True),
        st.Page(VIEWS / "saliency.py", title="Saliency", icon=":material/local_fire_department:"),
        st.Page(VIEWS / "boxes.py", title="Bounding boxes", icon=":material/crop_free:"),
        st.Page(VIEWS / "perturbation.py", title="SHAP and LIME", icon=":material/extension:"),
        st.Page(VIEWS / "compare.py", title="Compare models", icon=":material/compare:"),
        st.Page(VIEWS / "grid.py", title="Method grid", icon=":material/grid_view:"),
        st.Page(VIEWS / "report.py", title="Report", icon=":material/description:"),
        st.Page(VIEWS / "present.py", title="Presentation", icon=":material/present_to_all:"),
    ]
    page = st.navigation(pages)
    sidebar()
    page.run()


run()
