"""Deployment check: a Keras model as float16 TensorFlow Lite, side by side with the original."""

import pandas as pd
import streamlit as st

from core.errors import UserError
from dashboard import state

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
model = st.selectbox(
    "Model", choices, index=choices.index(selected[0]) if selected and selected[0] in choices else 0, key="deploy_model"
)
samples = state.samples()
st.caption(f"Compared on the {len(samples)} sample images (generated dogs and photos); latency is one image at a time.")
if not st.button("Convert and compare", type="primary", key="deploy_run") and not st.session_state.get(
    f"deploy_done_{model}"
):
    st.stop()
with st.spinner("Converting to float16 TFLite and running both models on the samples…"):
    try:
        result = state.quantised(model)
    except UserError as error:
        st.error(str(error))
        st.stop()
st.session_state[f"deploy_done_{model}"] = True

report = result.report
table = pd.DataFrame(
    {
        "": ["File size", "Time per image", "Top-1 agreement", "Largest probability difference"],
        "original (Keras)": [
            f"{report.original_bytes / 1e6:.2f} MB",
            f"{report.original_ms_per_image:.1f} ms",
            "—",
            "—",
        ],
        "float16 TFLite": [
            f"{report.tflite_bytes / 1e6:.2f} MB ({report.size_ratio:.0%})",
            f"{report.tflite_ms_per_image:.1f} ms",
            f"{report.top1_agreement:.0%} of {report.images} images",
            f"{report.max_probability_difference:.4f}",
        ],
    }
)
st.dataframe(table, hide_index=True, width="content")
verdict = (
    "The float16 model predicts the same class on every sample."
    if report.top1_agreement == 1
    else f"The float16 model disagrees on {round((1 - report.top1_agreement) * report.images)} of the samples."
)
st.markdown(f"**{verdict}** Probabilities move by at most {report.max_probability_difference:.2%}.")
columns = st.columns([1, 1, 3])
columns[0].download_button(
    "Download .tflite",
    result.tflite,
    file_name=result.file_name,
    mime="application/octet-stream",
    type="primary",
    icon=":material/download:",
    key="deploy_tflite",
    on_click="ignore",
)
columns[1].download_button(
    "Download its card (.json)",
    result.card,
    file_name=result.card_name,
    mime="application/json",
    icon=":material/badge:",
    key="deploy_card",
    on_click="ignore",
)
st.caption(
    "To look at the float16 model here, add the .tflite file in the sidebar under “Add your model” together with "
    "its card, which carries the class names and preprocessing."
)
