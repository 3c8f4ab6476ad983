"""Classification: every selected image, each selected model's top classes side by side."""

import streamlit as st

from core.agreement import ClassSets
from core.errors import UserError
from dashboard import components, state
from dashboard.views.common import images_and_models

st.title("Classification")
st.caption("What each model predicts for every selected image, side by side.")

images, models = images_and_models(load=False)
hashes = tuple(selected.image.sha256 for selected in images)
loading = st.empty()  # which model is loading, on a first visit after the server starts
classes_note = st.empty()
# The rows first, each model's column filled as soon as its predictions are in: on a first visit the first model's
# show while the second is still loading.
rows = []
for selected in images:
    with st.container(border=True, key=components.row_key(selected.image)):
        columns = st.columns([1.1] + [2] * len(models), gap="large")
        with columns[0]:
            st.image(selected.image.pixels, caption=components.image_heading(selected, bold=False), width="stretch")
        cells = [column.empty() for column in columns[1:]]
        for cell, name in zip(cells, models, strict=True):
            if not state.is_loaded(name):
                cell.caption(f"{name}: loading…")
        rows.append((cells, st.empty()))  # where the models disagree, said under the row

results = {}
for index, name in enumerate(models):
    try:
        with loading.container():
            components.load_models([name])
        results[name] = state.classify_images(name, hashes, tuple(s.image for s in images))
    except UserError as error:
        st.error(str(error))
        for cells, _ in rows:
            cells[index].empty()
        continue
    for row, (cells, _) in enumerate(rows):
        predictions = results[name][row]
        with cells[index].container():
            st.subheader(name, divider="gray")
            # The sentence under the chart, so the charts of both models stay level.
            familiarity = components.verdict(predictions, name, note=False)
            components.prediction_chart(predictions, key=f"chart_{row}_{name}")
            components.confidence_note(name, familiarity)
if len(results) == 2:
    names = list(results)
    classes = ClassSets(*(state.get_model(name).spec.labels for name in names))
    if not classes.same:
        classes_note.info(classes.sentence(*names))
    for row, (_, note) in enumerate(rows):
        top_a, top_b = (results[name][row][0].label for name in names)
        if top_a != top_b and classes.comparable(top_a, top_b):
            note.warning(f"The models disagree on this image: {names[0]} says {top_a}, {names[1]} says {top_b}.")
