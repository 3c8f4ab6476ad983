"""Bounding boxes fitted to saliency mass (docs/methods.md), with the true box and IoU where known."""

import numpy as np
import streamlit as st

from core.boxes import fit_box, iou, scale_box
from core.explain import METHODS, Family
from core.render import colourise, draw_boxes
from dashboard import components, state
from dashboard.views.common import all_labels, gradient_and_activation_methods, images_and_models

st.title("Bounding boxes")
st.caption(
    "A box fitted to the mass of each model's map: red dot the centroid, thin red the 24 boxes (one per "
    "order of moving the sides), cyan their mean, dashed green the true box of generated samples."
)

images, models = images_and_models()
controls = st.columns([3, 2])
with controls[0]:
    # Class activation maps first: smooth and in one piece, they give the best boxes (README, box quality).
    sources = sorted(
        gradient_and_activation_methods(), key=lambda name: METHODS[name].family is not Family.CLASS_ACTIVATION
    )
    method, params = components.explanation_controls(sources, key="boxes")
with controls[1]:
    tol = st.slider(
        "tol: share of the mass kept as each side moves in",
        0.5,
        0.99,
        0.9,
        0.01,
        key="boxes_tol",
        persist_state="session",
    )
    show_all = st.toggle("Draw all 24 boxes", value=True, key="boxes_all", persist_state="session")
    show_split = st.toggle(
        "Show the foreground colour model",
        value=False,
        key="boxes_split",
        persist_state="session",
        help="Gaussian mixtures of the colours of the 5% most and 30% least salient pixels; bright = colour of "
        "the foreground.",
    )
    target = components.target_control(all_labels(models), key="boxes_target")

results = components.explanations_or_error(images, models, method, params, target, ask_first_above=20)
if results is None:
    st.stop()

scores = {name: [] for name in models}
for row, selected in enumerate(images):
    shown = state.shown_image(selected.image)
    height, width = selected.image.pixels.shape[:2]
    truth = None if selected.box is None else scale_box(selected.box, shown.shape[1], shown.shape[0], width, height)
    with st.container(border=True, key=components.row_key(selected.image)):
        st.markdown(components.image_heading(selected))
        columns = st.columns(len(models))
        for column, name in zip(columns, models, strict=True):
            result = results[(name, row)]
            # Refitting is cheap (milliseconds), so a new tol never recomputes the map.
            fit = fit_box(result.map, tol)
            map_height, map_width = result.map.shape
            in_image = fit.scaled(width, height, map_width, map_height)
            picture = draw_boxes(
                shown, fit.scaled(shown.shape[1], shown.shape[0], map_width, map_height), truth, all_boxes=show_all
            )
            x0, y0, x1, y1 = in_image.box
            caption = f"{name} · explaining “{result.target_label}” · box [{x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}]"
            if selected.box is not None:
                overlap = iou(in_image.box, selected.box)
                scores[name].append(overlap)
                caption += f" · IoU with the true box {overlap:.2f}"
            column.image(picture, width="stretch", caption=caption)
            components.blank_note(column, method, result.map, result.target_label)
            if show_split:
                probability = state.foreground_probability(
                    name,
                    selected.image.sha256,
                    method,
                    tuple(sorted(params.items())),
                    result.target,
                    selected.image,
                    result.map,
                )
                column.image(
                    colourise(probability, 1.0, False, "gray"),
                    width="stretch",
                    caption="P(foreground | colour): bright = the colours of the most salient pixels",
                )

known = {name: values for name, values in scores.items() if values}
if known:
    st.subheader("Box quality on these images")
    st.dataframe(
        {
            "model": list(known),
            "images with a true box": [len(v) for v in known.values()],
            "mean IoU": [round(float(np.mean(v)), 3) for v in known.values()],
        },
        hide_index=True,
    )
