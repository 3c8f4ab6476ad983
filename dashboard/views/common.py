"""The start of every explanation page: the selected images and models, or a clear empty state."""

import streamlit as st

from dashboard import state


def images_and_models():
    """(images, model names) chosen in the sidebar; stops the page with a hint when either is missing."""
    images, errors = state.selected_images()
    for error in errors:
        st.error(error)
    models = state.selected_models()
    if not images:
        st.info("Upload images or tick sample images in the sidebar.")
        st.stop()
    if not models:
        st.info("Pick a model in the sidebar.")
        st.stop()
    return images, models


def all_labels(models: list[str]) -> list[str]:
    labels: list[str] = []
    for name in models:
        labels += [label for label in state.get_model(name).spec.labels if label not in labels]
    return labels
