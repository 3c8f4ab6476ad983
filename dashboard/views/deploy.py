"""Deployment check: a Keras model as float16 TensorFlow Lite, side by side with the original."""

import pandas as pd
import streamlit as st

from core.errors import UserError
from dashboard import state
from dashboard.components import Download, download_row


def _names(images, shown: int = 3) -> str:
    """The first few image names, and how many more."""
    more = len(images) - shown
    return ", ".join(image.name for image in images[:shown]) + (f" and {more} more" if more > 0 else "")


def _all(count: int) -> str:
    return "the one image" if count == 1 else f"all {count} images"


st.title("Deployment check")
st.caption(
    "Convert a Keras model to float16 TensorFlow Lite, as for a phone or an edge device, and see what changes: "
    "file size, time per image, and whether the predictions still agree."
)

choices = [name for name, spec in state.model_choices().items() if spec.ready and spec.differentiable]
if not choices:
    st.info("No Keras model is ready; add one in the sidebar (TFLite and SavedModel files cannot be converted).")
    st.stop()
selected = state.selected_models()
model = st.columns([2, 3])[0].selectbox(
    "Model",
    choices,
    index=choices.index(selected[0]) if selected and selected[0] in choices else 0,
    key="deploy_model",
    persist_state="session",
)
chosen = [selected.image for selected in state.selected_images()[0]]
with_samples = st.toggle(
    "Also the sample images",
    value=True,
    key="deploy_samples",
    persist_state="session",
    help="The generated dogs and photos of the sidebar, besides the images you chose there.",
)
samples = [sample.image for sample in state.samples()] if with_samples else []
images = list({image.sha256: image for image in chosen + samples}.values())  # a ticked sample counts once
if not images:
    st.info("Upload images or tick sample images in the sidebar, or switch on the sample images here.")
    st.stop()
others = len(images) - len(chosen)
st.caption(
    f"Compared on {len(images)} image{'s' if len(images) != 1 else ''}: "
    + (f"the {len(chosen)} chosen in the sidebar ({_names(chosen)})" if chosen else "none chosen in the sidebar")
    + (f" and {others} more sample image{'s' if others != 1 else ''}" if others else "")
    + ". Time is measured one image at a time."
)
if not st.button("Convert and compare", type="primary", key="deploy_run") and not st.session_state.get(
    f"deploy_done_{model}"
):
    st.stop()
with st.spinner(f"Converting to float16 TFLite and running both models on {len(images)} images…"):
    try:
        result = state.quantised(model, tuple(image.sha256 for image in images), tuple(images))
    except UserError as error:
        st.error(str(error))
        st.stop()
st.session_state[f"deploy_done_{model}"] = True

report = result.report
table = pd.DataFrame(
    {
        "": ["File size", "Time per image", "Same top class", "Largest change in a probability"],
        "original (Keras)": [
            f"{report.original_bytes / 1e6:.2f} MB",
            f"{report.original_ms_per_image:.1f} ms",
            "—",
            "—",
        ],
        "float16 TFLite": [
            f"{report.tflite_bytes / 1e6:.2f} MB ({report.size_ratio:.0%} of the original)",
            f"{report.tflite_ms_per_image:.1f} ms",
            f"{report.top1_agreement:.0%} of {report.images} image{'s' if report.images != 1 else ''}",
            f"{100 * report.max_probability_difference:.2f} percentage points",
        ],
    }
)
st.dataframe(table, hide_index=True, width="content")
if report.changed_images:
    changed = report.changed_images
    verdict = (
        f"The float16 model changes its top class on {len(changed)} of {report.images} images: {', '.join(changed)}."
    )
else:
    verdict = f"The float16 model predicts the same class as the original on {_all(report.images)}."
st.markdown(
    f"**{verdict}** No class's probability moves by more than {100 * report.max_probability_difference:.2f} "
    "percentage points (as from 90.00% to 90.01% for 0.01)."
)
files = result.files
download_row("deploy_downloads", [
    Download("Download .tflite", files.tflite, files.file_name, "application/octet-stream", ":material/download:",
             "deploy_tflite"),
    Download("Download its card (.json)", files.card, files.card_name, "application/json", ":material/badge:",
             "deploy_card"),
])  # fmt: skip
st.caption(
    "To look at the float16 model here, add the .tflite file in the sidebar under “Add your model” together with "
    "its card, which carries the class names and preprocessing."
)
