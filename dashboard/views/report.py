"""Report: the selected images, models and methods as one self-contained HTML file to hand on."""

import pandas as pd
import streamlit as st

from core.agreement import SCORES, agreeing_share, mean_agreement
from core.explain import METHODS
from core.render import OPACITY
from dashboard import components, state, trust_panels
from dashboard.views.common import comparison, images_and_models

st.title("Report")
st.caption(
    "One HTML file with the images, each model's predictions, the overlays and boxes of the methods you pick, how "
    "much the models agree, the parameters and the model cards; on request, whether each map can be trusted. It opens "
    "offline in any browser and prints to PDF."
)

images, models = images_and_models()
controls = st.columns([3, 1, 2])
methods = controls[0].multiselect(
    "Methods",
    list(METHODS),
    default=["saliency", "gradcam++"],
    format_func=lambda m: METHODS[m].title,
    key="report_methods",
    persist_state="session",
)
percent = controls[1].number_input("Top region, %", 1, 50, 10, key="report_percent", persist_state="session")
shared = (
    controls[2].radio(
        "Colour scale",
        ["Shared by the pair", "Per model"],
        horizontal=True,
        key="report_scale",
        persist_state="session",
    )
    == "Shared by the pair"
)
st.caption(
    f"{len(images)} image{'s' if len(images) != 1 else ''} (chosen in the sidebar) · "
    f"{' vs '.join(models)} · each method with its default parameters."
)
trust = trust_panels.trust_controls("report")
trust_notice = st.container()
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

checks = None
if trust is not None:
    items = [
        (name, row, selected, results[method][(name, row)], method, METHODS[method].defaults, {})
        for method in methods
        for name in models
        for row, selected in enumerate(images)
    ]
    with trust_notice:
        checks = trust_panels.run_trust_items(items, trust, key="report")
    if checks is None:
        st.stop()  # waiting for the click, or stopped: the report waits for the checks it was asked to hold
report = comparison(images, models, results, {m: METHODS[m].defaults for m in methods}, percent, checks)
if report.pair:
    words = {key: score.read(percent) for key, score in SCORES.items()}  # (label, reading, detail)
    st.subheader("Agreement, mean over the images")
    if not report.class_sets.same:
        st.info(report.class_sets.sentence(*models))
    columns = {key: words[key][0].lower() for key in SCORES}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "method": METHODS[m].title,
                    columns["rank_correlation"]: means["rank_correlation"],
                    columns["top_iou"]: means["top_iou"],
                    columns["box_iou"]: means["box_iou"],
                    columns["same_prediction"]: agreeing_share(means["same_prediction"]),
                    "maps of different classes": f"{means['different_classes']} of {len(images)}",
                }
                for m in methods
                for means in [mean_agreement(report.agreements(m))]
            ]
        ),
        hide_index=True,
        column_config={
            columns[key]: st.column_config.NumberColumn(format=number_format, help=words[key][2])
            for key, number_format in (("rank_correlation", "%+.2f"), ("top_iou", "%.2f"), ("box_iou", "%.2f"))
        },
    )
    st.caption(" ".join(f"**{label}**: {reading}" for label, reading, _ in words.values()))
if report.trust:
    st.subheader("Can the maps be trusted? Means over the images")
    st.html(trust_panels.STYLE)
    st.container(key="report_trust_faithfulness").markdown(
        trust_panels.summary_table(
            {f"{name} · {METHODS[method].title}": means for method, by_model in report.trust_summary().items()
             for name, means in by_model.items()}
        ),
        help=trust_panels.substrate_sentence_of({key: found[0] for key, found in report.trust.items()}),
    )  # fmt: skip
    st.caption(
        "Bold: the maps; in brackets their references. A map is better than chance where its deletion AUC is lower "
        "and its insertion AUC, pointing game, energy and share on the dog higher than the references'. The report "
        "holds each map's numbers with a sentence on how to read each."
    )
key = (
    tuple(selected.image.sha256 for selected in images),
    tuple(models),
    tuple(methods),
    percent,
    shared,
    None if trust is None else (trust.substrate, trust.steps, trust.curves),
)
html = state.report_html(key, report, shared, OPACITY, curves=trust is not None and trust.curves)
components.report_downloads(report, shared=shared, stem="explanation-report", html=html)
st.subheader("Preview")
st.caption("The report exactly as it downloads; scroll inside the frame.")
# The report is the app's own page: every name that came from a user is escaped in it and it holds no scripts
# (core/report/page.py), so it can be shown as it is.
with st.container(border=True, key="report_preview"):
    st.iframe(html, height=760)
