"""Saliency: gradient maps and class activation maps over the image, for each selected model, and on request
whether each map can be trusted (deletion and insertion, pointing at the dog, the sanity check)."""

import streamlit as st

from dashboard import components, trust_panels
from dashboard.views.common import all_labels, gradient_and_activation_methods, images_and_models

st.title("Saliency")
st.caption("Where each model's class score is sensitive: gradients, their smoothed relatives, and Grad-CAM.")

images, models = images_and_models()
controls = st.columns([3, 2])
with controls[0]:
    method, params = components.explanation_controls(gradient_and_activation_methods(), key="saliency")
with controls[1]:
    target = components.target_control(all_labels(models), key="saliency_target")
    show_raw = st.toggle("Show the raw map beside the overlay", value=True, key="saliency_raw", persist_state="session")
colourmap, opacity, scale = components.colour_controls("saliency", method)
trust = trust_panels.trust_controls("saliency")
trust_notice = st.container()
sanity_steps = trust_panels.sanity_controls("saliency")
sanity_notice = st.container()
results = components.explanations_or_error(images, models, method, params, target, ask_first_above=20)
if results is not None:
    slots = components.explanation_rows(
        images, models, results, method, colourmap=colourmap, opacity=opacity, scale=scale, show_raw=show_raw,
        below=trust is not None,
    )  # fmt: skip
    if trust is not None:
        with trust_notice:
            checks = trust_panels.run_trust(images, models, results, method, params, trust, key="saliency")
        for (name, row), slot in slots.items() if checks else ():
            with slot:
                trust_panels.trust_block(checks[(name, row)], trust, key=f"saliency_trust_{row}_{models.index(name)}")
    if sanity_steps is not None:
        with sanity_notice:
            sanity = trust_panels.run_sanity(images, models, results, method, params, sanity_steps, key="saliency")
        if sanity:
            st.subheader("Sanity check", anchor=False)
            trust_panels.sanity_section(images, models, sanity, method, key="saliency")
