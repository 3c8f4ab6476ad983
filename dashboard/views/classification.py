"""Classification: every selected image, each selected model's top classes side by side."""

import streamlit as st

from core.agreement import ClassSets
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
names = list(results)
classes = None
if len(names) == 2:
    labels = [state.get_model(name).spec.labels for name in names]
    classes = ClassSets(*labels)
    if not classes.same:
        st.info(classes.sentence(*names))

for row, selected in enumerate(images):
    with st.container(border=True, key=components.row_key(selected.image)):
        columns = st.columns([1.1] + [2] * len(results), gap="large")
        with columns[0]:
            st.image(selected.image.pixels, caption=components.image_heading(selected, bold=False), width="stretch")
        for column, (name, predictions) in zip(columns[1:], results.items(), strict=False):
            with column:
                st.subheader(name, divider="gray")
                # The sentence under the chart, so the charts of both models stay level.
                familiarity = components.verdict(predictions[row], name, note=False)
                components.prediction_chart(predictions[row], key=f"chart_{row}_{name}")
                components.confidence_note(name, familiarity)
        if classes is not None:
            top_a, top_b = (results[name][row][0].label for name in names)
            if top_a != top_b and classes.comparable(top_a, top_b):
                st.warning(f"The models disagree on this image: {names[0]} says {top_a}, {names[1]} says {top_b}.")
