"""Classification: every selected image, each selected model's top classes side by side."""

import streamlit as st

from core.errors import UserError
from dashboard import components, state
from dashboard.views.common import images_and_models

st.title("Classification")
st.caption("What each model predicts for every selected image, side by side.")

images, models = images_and_models()
hashes = tuple(selected.image.sha256 for selected in images)
results = {}
for name in models:
    try:
        results[name] = state.classify_images(name, hashes, tuple(s.image for s in images))
    except UserError as error:
        st.error(str(error))
if not results:
    st.stop()

for row, selected in enumerate(images):
    with st.container(border=True, key=components.row_key(selected.image)):
        columns = st.columns([1.1] + [2] * len(results), gap="large")
        with columns[0]:
            st.image(selected.image.pixels, caption=components.image_heading(selected, bold=False), width="stretch")
        for column, (name, predictions) in zip(columns[1:], results.items(), strict=False):
            with column:
                st.subheader(name, divider="gray")
                components.verdict(predictions[row])
                components.prediction_chart(predictions[row], key=f"chart_{row}_{name}")
        tops = {predictions[row][0].label for predictions in results.values()}
        if len(results) > 1 and len(tops) > 1:
            st.warning("The models disagree on this image.")
