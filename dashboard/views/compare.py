"""Compare models: model A and model B explaining the same images with the same method, on one colour
scale, with how much they agree."""

import pandas as pd
import streamlit as st

from core.agreement import EXPLANATIONS, mean_agreement
from core.explain import METHODS
from core.images import encode_png
from core.render import PER_IMAGE, PER_MAP, colour_limits, display_size, explanation_picture, limit_caption
from dashboard import components
from dashboard.views.common import all_labels, comparison, file_stem, images_and_models

st.title("Compare models")
st.caption("Does one model look at the same thing as the other? The same images, method and parameters for both.")

images, models = images_and_models()
if len(models) < 2:
    st.info("Pick two different models in the sidebar, as Model A and Model B, to compare them.")
    st.stop()

controls = st.columns([3, 2])
with controls[0]:
    method, params = components.explanation_controls(list(METHODS), key="compare")
with controls[1]:
    target = components.target_control(all_labels(models), key="compare_target")
    percent = st.slider(
        "Top region for agreement (% of pixels)",
        1,
        50,
        10,
        key="compare_percent",
        help="The share of each map's strongest pixels whose overlap is scored.",
    )
signed = METHODS[method].signed
colourmap, opacity, scale = components.colour_controls(
    "compare",
    method,
    shared_scale=PER_IMAGE,
    scale=("Per model", "Shared by the pair"),
    scale_help="Per model: each model's map gets its own scale, so both are readable even when one model's "
    "numbers are far larger. Shared by the pair: both maps of an image on one scale, so a fainter map means weaker "
    "evidence.",
)
ask_first_above = 0 if not METHODS[method].needs_gradients else 20
results = components.explanations_or_error(images, models, method, params, target, ask_first_above)
if results is None:
    st.stop()

result = comparison(images, models, {method: results}, {method: params}, percent)
scores = result.agreements(method)
score_lines = {key: text.format(k=percent) for key, text in EXPLANATIONS.items()}
limits = colour_limits(result.maps(method), signed, scale)
for row, selected in enumerate(images):
    image = selected.image
    with st.container(border=True, key=components.row_key(image)):
        st.markdown(components.image_heading(selected))
        columns = st.columns([2, 3, 3])
        columns[0].image(display_size(image.pixels), width="stretch", caption=f"{image.width}×{image.height}")
        for column, name in zip(columns[1:], models, strict=True):
            explanation, limit = result.explanations[(name, method)][row], limits[(name, row)]
            picture = explanation_picture(
                image.pixels, explanation.map, explanation.fit, limit, signed,
                opacity=opacity, colourmap=colourmap, exponent=METHODS[method].overlay_exponent, true_box=selected.box,
            )  # fmt: skip
            with column:
                top = result.predictions[name][row][0]
                st.markdown(f"**{name}**: {top.label} · {top.probability:.1%}")
                st.image(picture, width="stretch", caption=f"explaining “{explanation.target_label}” · "
                         f"{limit_caption(explanation.map, limit, signed, scale)}")  # fmt: skip
                components.blank_note(st, method, explanation.map, explanation.target_label)
                st.download_button(
                    "Overlay PNG",
                    lambda picture=picture: encode_png(picture),
                    file_name=f"{file_stem(image.name)}.{name}.{method}.png",
                    mime="image/png",
                    icon=":material/download:",
                    key=f"png_{row}_{name}",
                    on_click="ignore",
                )
        score = scores[row]
        cells = st.columns(4)
        for cell, key, label, value in (
            (cells[0], "rank_correlation", "Rank correlation", f"{score.rank_correlation:+.2f}"),
            (cells[1], "top_iou", f"Top {percent}% IoU", f"{score.top_iou:.2f}"),
            (cells[2], "box_iou", "Box IoU", f"{score.box_iou:.2f}"),
            (cells[3], "same_prediction", "Predictions", "agree" if score.same_prediction else "differ"),
        ):
            cell.metric(label, value)
            cell.caption(score_lines[key])

st.subheader(f"Over {len(images)} image{'s' if len(images) > 1 else ''}")
table = pd.DataFrame(
    [
        {
            "image": selected.image.name,
            f"{models[0]}": result.predictions[models[0]][row][0].label,
            f"{models[1]}": result.predictions[models[1]][row][0].label,
            "rank correlation": s.rank_correlation,
            f"top {percent}% IoU": s.top_iou,
            "box IoU": s.box_iou,
            "same prediction": "yes" if s.same_prediction else "no",
        }
        for row, (selected, s) in enumerate(zip(images, scores, strict=True))
    ]
)
means = mean_agreement(scores)
table.loc[len(table)] = {
    "image": "mean",
    models[0]: "",
    models[1]: "",
    "rank correlation": means["rank_correlation"],
    f"top {percent}% IoU": means["top_iou"],
    "box IoU": means["box_iou"],
    "same prediction": f"{means['same_prediction']:.0%}",
}
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "rank correlation": st.column_config.NumberColumn(format="%+.2f"),
        f"top {percent}% IoU": st.column_config.NumberColumn(format="%.2f"),
        "box IoU": st.column_config.NumberColumn(format="%.2f"),
    },
)
components.report_downloads(result, shared=scale != PER_MAP, opacity=opacity, stem=f"report-{method}")
