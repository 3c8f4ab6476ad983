"""SHAP and LIME: model-agnostic explanations from many perturbed copies of the image."""

import streamlit as st

from core.explain import METHODS, Family
from core.render import strongest_regions
from dashboard import components
from dashboard.views.common import all_labels, images_and_models

st.title("SHAP and LIME")
st.caption(
    "Explanations that only look at the model's outputs on perturbed copies of the image: they work on "
    "any model, and cost one model pass per copy."
)

images, models = images_and_models()
# The model-agnostic methods first, then SHAP's estimator that needs gradients.
shown = [method for method in METHODS.values() if method.family is Family.PERTURBATION or method.shap]
available = [method.name for method in sorted(shown, key=lambda method: method.needs_gradients)]
controls = st.columns([3, 2])
with controls[0]:
    method, params = components.explanation_controls(available, key="perturbation")
with controls[1]:
    target = components.target_control(all_labels(models), key="perturbation_target")
    show_raw = st.toggle(
        "Show the raw map beside the overlay", value=False, key="perturbation_raw", persist_state="session"
    )
colourmap, opacity, scale = components.colour_controls("perturbation", method)
if method == "lime":
    regions = st.slider(
        "Regions shown (the strongest, for or against)", 1, 40, 10, key="perturbation_regions", persist_state="session"
    )
# SHAP and LIME take seconds per image: always show their cost and wait for a click.
results = components.explanations_or_error(images, models, method, params, target, ask_first_above=0)
if results is not None:
    components.explanation_rows(
        images,
        models,
        results,
        method,
        colourmap=colourmap,
        opacity=opacity,
        scale=scale,
        show_raw=show_raw,
        transform=(lambda raw: strongest_regions(raw, regions)) if method == "lime" else None,
    )
