"""Report: the selected images, models and methods as one self-contained HTML file to hand on."""

import pandas as pd
import streamlit as st

from core.agreement import mean_agreement
from core.explain import METHODS
from dashboard import components
from dashboard.views.common import comparison, images_and_models

st.title("Report")
st.caption(
    "One HTML file with the images, each model's predictions, the overlays and boxes of the methods you pick, how "
    "much the models agree, the parameters and the model cards. It opens offline in any browser and prints to PDF."
)

images, models = images_and_models()
controls = st.columns([3, 1, 2])
methods = controls[0].multiselect(
    "Methods",
    list(METHODS),
    default=["saliency", "gradcam++"],
    format_func=lambda m: METHODS[m].title,
    key="report_methods",
)
percent = controls[1].number_input("Top region, %", 1, 50, 10, key="report_percent")
shared = (
    controls[2].radio("Colour scale", ["Shared by the pair", "Per model"], horizontal=True, key="report_scale")
    == "Shared by the pair"
)
st.caption(
    f"{len(images)} image{'s' if len(images) != 1 else ''} (chosen in the sidebar) · "
    f"{' vs '.join(models)} · each method with its default parameters."
)
if not methods:
    st.info("Pick at least one method.")
    st.stop()

results = {}
for method in methods:
    ask_first_above = 20 if METHODS[method].needs_gradients else 0
    found = components.explanations_or_error(images, models, method, METHODS[method].defaults, None, ask_first_above)
    if found is None:
        st.stop()  # waiting for a click on a slow method, or it failed (the page says which)
    results[method] = found

report = comparison(images, models, results, {m: METHODS[m].defaults for m in methods}, percent)
if report.pair:
    st.subheader("Agreement, mean over the images")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "method": METHODS[m].title,
                    "rank correlation": means["rank_correlation"],
                    f"top {percent}% IoU": means["top_iou"],
                    "box IoU": means["box_iou"],
                    "same prediction": f"{means['same_prediction']:.0%}",
                }
                for m in methods
                for means in [mean_agreement(report.agreements(m))]
            ]
        ),
        hide_index=True,
        column_config={
            "rank correlation": st.column_config.NumberColumn(format="%+.2f"),
            f"top {percent}% IoU": st.column_config.NumberColumn(format="%.2f"),
            "box IoU": st.column_config.NumberColumn(format="%.2f"),
        },
    )
components.report_downloads(report, shared=shared, stem="explanation-report")
