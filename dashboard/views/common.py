"""The start of every explanation page: the selected images and models, or a clear empty state."""

import streamlit as st

from core.images import file_safe
from dashboard import state


def images_and_models(load: bool = True):
    """(images, model names) chosen in the sidebar, after the image opened from the Evaluate page (if any); stops
    the page with a hint when either is missing. The models are loaded, saying which, unless `load` is False (the
    page loads them itself)."""
    images, errors = state.selected_images()
    for error in errors:
        st.error(error)
    evaluated = state.evaluated_images()
    if evaluated:
        chosen = {selected.image.sha256 for selected in evaluated}
        images = evaluated + [selected for selected in images if selected.image.sha256 not in chosen]
        with st.container(horizontal=True, key="evaluated_note", vertical_alignment="center"):
            st.caption(f"Opened from the evaluation: {evaluated[0].image.name} (true class: {evaluated[0].label}).")
            st.button("Remove", key="evaluated_remove", type="tertiary", on_click=state.forget_evaluated)
    models = state.selected_models()
    if not images:
        st.info("Upload images or tick sample images in the sidebar.")
        st.stop()
    if not models:
        st.info("Pick a model in the sidebar.")
        st.stop()
    if load:
        from dashboard.components import load_models

        load_models(models)
    return images, models


def gradient_and_activation_methods() -> list[str]:
    """The methods whose maps are read off gradients or activations, in registry order; SHAP's gradient
    estimator is left to the SHAP and LIME page."""
    from core.explain import METHODS, Family

    families = (Family.GRADIENT, Family.CLASS_ACTIVATION)
    return [name for name, method in METHODS.items() if method.family in families and not method.shap]


def all_labels(models: list[str]) -> list[str]:
    labels: list[str] = []
    for name in models:
        labels += [label for label in state.get_model(name).spec.labels if label not in labels]
    return labels


def comparison(images, models: list[str], results: dict, params: dict, percent: float = 10.0, checks=None):
    """A core `Comparison` from this page's cached results: `results[method][(model, row)]` and
    `params[method]`, and the trust checks `checks[(model, row, method)]` (dashboard.trust_panels.run_trust_items)
    where asked for, so the report and the downloads show exactly what the page shows."""
    from core.report import Comparison

    hashes = tuple(selected.image.sha256 for selected in images)
    decoded = tuple(selected.image for selected in images)
    return Comparison(
        images=decoded,
        models=tuple(state.get_model(name).spec for name in models),
        methods=tuple(results),
        params={method: dict(params[method]) for method in results},
        predictions={name: state.classify_images(name, hashes, decoded, 3) for name in models},
        explanations={
            (name, method): [by_key[(name, row)] for row in range(len(images))]
            for method, by_key in results.items()
            for name in models
        },
        percent=percent,
        true_labels=tuple(selected.label for selected in images),
        true_boxes=tuple(selected.box for selected in images),
        trust={
            (name, method): [checks[(name, row, method)] for row in range(len(images))]
            for method in results
            for name in models
        }
        if checks
        else {},
        agree=state.agreement,
    )


def file_stem(name: str) -> str:
    """A download's file name from an image's (already cleaned) name, without its extension."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return file_safe(stem)[:60] or "image"
