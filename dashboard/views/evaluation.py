"""Evaluate: the models of the sidebar on a labelled set; where they fail, how sure they are, which to trust, and
the images to open on the explanation pages."""

import json

import streamlit as st

from core.errors import UserError
from core.evaluation import TTA_MODES, bundled_set, evaluate, map_labels, read_set, words
from core.evaluation.data import BUNDLED_NAME
from core.evaluation.page import render_evaluation
from dashboard import evaluation_parts as parts
from dashboard import state
from dashboard.components import Download, download_row

st.title("Evaluate")
st.caption(
    "Run the models on a labelled set: how often each is right, where it goes wrong, how sure it was, and which of "
    "two to trust. Every picture opens its explanations."
)
if st.session_state.pop(parts.OPEN_FLAG, False):
    st.switch_page("views/saliency.py")
if error := st.session_state.pop("_evaluation_open_error", None):
    st.error(error)

models = state.selected_models()
if not models:
    st.info("Pick a model in the sidebar.")
    st.stop()

SOURCES = {"bundled": f"Bundled: {BUNDLED_NAME}", "zip": "Upload a zip", "folder": "Folder on this server"}
if not state.server_folders_allowed():
    SOURCES.pop("folder")
controls = st.columns([3, 2])
source = controls[0].segmented_control(
    "Labelled set", list(SOURCES), format_func=SOURCES.get, default="bundled", key="evaluation_source"
)
TTA_TITLES = {"none": "None", "flip": "Mirror", "flip+shift": "Mirror and shifts"}
tta = (
    controls[1].segmented_control(
        "Test-time augmentation",
        list(TTA_MODES),
        format_func=TTA_TITLES.get,
        default="none",
        key="evaluation_tta",
        help="Average each model's probabilities over the image and its mirror (and four copies shifted by a "
        "sixteenth of the side), and compare with the plain answers.",
    )
    or "none"
)

try:
    if source == "zip":
        upload = st.file_uploader(
            "A zip of a folder per class, a CSV (file,label[,x0,y0,x1,y1]) with its images, or a generated set "
            "with annotations.json",
            type=["zip"],
            key="evaluation_zip",
            max_upload_size=state.EVALUATION_ZIP_MB,
            help="Unpacked into a temporary folder of this session only, after checks for paths outside it and zip "
            "bombs; deleted when the session ends.",
        )
        if upload is None:
            st.stop()
        labelled = state.evaluation_set_from_zip(upload.file_id, upload.getvalue(), upload.name)
        set_key = ("zip", upload.file_id)
    elif source == "folder":
        path = st.text_input(
            "Folder or CSV on this server",
            key="evaluation_folder",
            placeholder="/data/dogs (a subfolder per class), /data/dogs/labels.csv, or a folder with annotations.json",
        )
        if not path.strip():
            st.stop()
        labelled = read_set(path.strip())
        set_key = ("folder", str(labelled.root), labelled.kind, len(labelled.images))
    else:
        with st.spinner("Generating the bundled set (once, about 5 s)…"):
            labelled = bundled_set()
        set_key = ("bundled", str(labelled.root))
except UserError as error:
    st.error(str(error))
    st.stop()

counts = ", ".join(f"{name} {count:,}" for name, count in labelled.counts().items())
st.caption(f"**{labelled.name}**: {len(labelled.images):,} images ({counts}).")

# Class names onto each model's labels: exact, then ignoring case and spaces; the rest by hand here.
mappings, missing = {}, []
for name in models:
    labels = state.get_model(name).spec.labels
    chosen = {c: st.session_state.get(f"evaluation_map_{name}_{c}") for c in labelled.classes}
    by_hand = {c: v for c, v in chosen.items() if v and v != "(leave out)"}
    left_out = tuple(c for c, v in chosen.items() if v == "(leave out)")
    mapping = map_labels(labelled.classes, labels, name, by_hand, left_out)
    automatic = map_labels(labelled.classes, labels, name)
    for class_name in automatic.unmatched:
        missing.append((name, class_name, labels))
    if not mapping.complete:
        st.warning(mapping.sentence(labels, "below"))
    mappings[name] = mapping
if missing:
    with st.container(border=True, key="evaluation_mapping"):
        st.markdown("**Map the set's classes onto the models' labels**")
        columns = st.columns(3)
        for index, (name, class_name, labels) in enumerate(missing):
            columns[index % 3].selectbox(
                f"“{class_name}” means, for {name}",
                list(labels) + ["(leave out)"],
                index=None,
                placeholder="choose a label",
                key=f"evaluation_map_{name}_{class_name}",
            )
if any(not mapping.complete for mapping in mappings.values()):
    st.stop()
with st.expander("Class names", expanded=False):
    st.dataframe(
        [
            {"model": name, "the set's class": c, "the model's label": label or "—", "matched": m.how.get(c, "")}
            for name, m in mappings.items()
            for c, label in m.pairs.items()
        ],
        hide_index=True,
    )

bar = st.progress(0.0, text="Scoring…")


def _progress(p) -> None:
    left = f" · about {p.seconds_left:.0f} s left" if p.done < p.total else ""
    bar.progress(
        p.done / max(1, p.total),
        text=f"Scored {p.done:,} of {p.total:,} images · {p.images_per_second:.0f} per second{left}",
    )


try:
    scored = state.scored_set((*set_key, tuple(models), tta), labelled, models, tta, _progress)
    evaluation = evaluate(scored, mappings)
except UserError as error:
    bar.empty()
    st.error(str(error))
    st.stop()
bar.empty()
if scored.unreadable:
    count = len(scored.unreadable)
    with st.expander(
        f"{count:,} image{'s' if count != 1 else ''} could not be read and {'were' if count != 1 else 'was'} skipped"
    ):
        st.markdown("\n".join(f"- **{name}**: {reason}" for name, reason in scored.unreadable[:500]))
if evaluation.left_out:
    st.caption(f"{evaluation.left_out:,} images of classes left out are not evaluated.")
ms = list(evaluation.models)

# --- which model to trust -------------------------------------------------------------------------------------
if evaluation.pair:
    st.header(f"{evaluation.names[0]} or {evaluation.names[1]}?")
    columns = st.columns([3, 2])
    with columns[0]:
        parts.reading(words.comparison(evaluation), key="evaluation_trust")
    with columns[1]:
        parts.agreement_table(evaluation)

# --- how often right, and where it goes wrong --------------------------------------------------------------------
st.header("Where it goes wrong")
columns = st.columns(len(ms), gap="large")
cells = {}
for index, (column, m) in enumerate(zip(columns, ms, strict=True)):
    with column:
        st.subheader(m.model, divider="gray")
        parts.reading(words.accuracy(m), key=f"evaluation_accuracy_{index}")
        st.markdown("**Confusion matrix** · click a cell for its images")
        cells[m.model] = parts.confusion(m, key=f"evaluation_confusion_{index}")
        parts.per_class_table(m)
        st.caption(
            "Precision: of the images it calls this class, the share that are. Recall: of the images of this class, "
            "the share it finds. F1: their harmonic mean."
        )
for m in ms:
    cell = cells[m.model]
    if cell is not None:
        given, answered = cell
        rows = m.confusion_cell(given, answered)
        with st.container(border=True, key=f"evaluation_cell_{ms.index(m)}"):
            st.markdown(f"**{m.model}: given {given}, answered {answered}** · {len(rows):,} images")
            parts.gallery(evaluation, rows, ms, key=f"cell_{ms.index(m)}")

# --- how sure -------------------------------------------------------------------------------------------------------
st.header("How sure it is")
columns = st.columns(len(ms), gap="large")
for index, (column, m) in enumerate(zip(columns, ms, strict=True)):
    with column:
        parts.reading(words.calibration(m), key=f"evaluation_calibration_{index}")
        parts.reliability_chart(m, parts.COLOURS[index], key=f"evaluation_reliability_{index}")

# --- withholding --------------------------------------------------------------------------------------------------
st.header("Withholding unsure answers")
controls = st.columns(2)
threshold = controls[0].slider(
    "Withhold answers below this confidence",
    0.5,
    1.0,
    0.9,
    0.01,
    key="evaluation_threshold",
    format="%.2f",
    help="An answer is kept when the model's top probability is at least this.",
)
wanted = (
    controls[1].number_input(
        "Target accuracy on the answers kept, %", 50.0, 100.0, 99.0, 0.5, key="evaluation_target", format="%.1f"
    )
    / 100
)
columns = st.columns(len(ms), gap="large")
for index, (column, m) in enumerate(zip(columns, ms, strict=True)):
    with column:
        st.subheader(m.model, divider="gray")
        parts.reading(words.withholding(m, threshold), key=f"evaluation_withhold_{index}")
        parts.reading(words.target(m, wanted), key=f"evaluation_target_{index}")
        parts.reading(words.ranking(m), key=f"evaluation_aurc_{index}")
parts.coverage_chart(ms, threshold, key="evaluation_coverage")

# --- test-time augmentation ---------------------------------------------------------------------------------------
st.header("Test-time augmentation")
if tta == "none":
    st.caption("Pick Mirror or Mirror and shifts above to see whether averaging over views changes the answers.")
else:
    columns = st.columns(len(ms), gap="large")
    for index, (column, m) in enumerate(zip(columns, ms, strict=True)):
        with column:
            parts.reading(words.tta(m), key=f"evaluation_tta_{index}")

# --- galleries ------------------------------------------------------------------------------------------------------
st.header("Images to look at")
GALLERIES = dict(words.GALLERIES)
if evaluation.pair:
    GALLERIES["disagreements"] = (
        "Where they disagree",
        "Images on which the two models name different classes; those only one gets right first.",
    )
name = (
    st.columns([1, 2])[0].selectbox("Model", evaluation.names, key="evaluation_gallery_model")
    if evaluation.pair
    else ms[0].model
)
kind = (
    st.segmented_control(
        "Gallery",
        list(GALLERIES),
        format_func=lambda k: GALLERIES[k][0],
        default="confidently_wrong",
        key="evaluation_gallery",
    )
    or "confidently_wrong"
)
if kind == "disagreements":
    parts.gallery(evaluation, evaluation.disagreements(), ms, key="gallery", note=GALLERIES[kind][1])
else:
    m = evaluation.model(name)
    parts.gallery(
        evaluation, getattr(m, kind)(), [m] + [o for o in ms if o is not m], key="gallery", note=GALLERIES[kind][1]
    )

# --- downloads ------------------------------------------------------------------------------------------------------
# --- whether it looks at the right thing ------------------------------------------------------------------------
st.header("Does it look at the right thing?")
st.caption(
    "Right answers for the wrong reason look the same in the numbers above. On a subset of the set, each model's "
    "maps are checked: do they beat chance at deletion and insertion, and where the set knows the dog's box and "
    "parts, do they point at the dog? Costly: it runs on request."
)
if st.toggle("Check the maps on a subset", key="evaluation_looks", persist_state="session"):
    from core.explain import METHODS
    from core.trust.summary import summarise
    from dashboard import components, trust_panels
    from dashboard.views.common import gradient_and_activation_methods

    columns = st.columns(2)
    looks_method = columns[0].selectbox(
        "Method", gradient_and_activation_methods(), format_func=lambda m: METHODS[m].title,
        key="evaluation_looks_method", persist_state="session",
    )  # fmt: skip
    count = columns[1].number_input(
        "Images (spread evenly over the set)", min_value=1, max_value=len(labelled.images),
        value=min(8, len(labelled.images)), key="evaluation_looks_count", persist_state="session",
    )  # fmt: skip
    subset = state.evaluation_subset(set_key, labelled, int(count))
    looks = components.explanations_or_error(subset, models, looks_method, {}, None, ask_first_above=0)
    if looks is not None:
        options = trust_panels.TrustOptions("blur", trust_panels.DEFAULT_STEPS, False)
        checks = trust_panels.run_trust(subset, models, looks, looks_method, {}, options, key="evaluation_looks")
        if checks:
            summaries = {
                name: summarise([(c.faithfulness, c.localisation) for (n, _), c in checks.items() if n == name])
                for name in models
            }
            st.html(trust_panels.STYLE)
            with st.container(key="evaluation_looks_faithfulness"):
                st.markdown(trust_panels.summary_table(summaries))
            st.caption(
                "Means over the subset; bold: the model's maps, in brackets the references (random maps and a centred "
                "blob; for the pointing game the chance of a random point; for energy and the dog the box's and the "
                "dog's share of the image, what a uniform map scores). A model whose maps beat their references "
                "looks at the right thing; one that is right but whose maps do not, may be right for another reason."
            )

st.header("Files")
download_row("evaluation_downloads", [
    Download("Report (HTML)", lambda: render_evaluation(evaluation), "evaluation.html", "text/html",
             ":material/description:", "evaluation_html"),
    Download("Metrics (JSON)", lambda: json.dumps(evaluation.as_dict(), indent=1), "metrics.json",
             "application/json", ":material/data_object:", "evaluation_json"),
    Download("Predictions (CSV)", lambda: evaluation.predictions_frame().to_csv(index=False), "predictions.csv",
             "text/csv", ":material/table:", "evaluation_csv"),
])  # fmt: skip
st.caption(
    f"The same files from the command line: python -m core evaluate --model {' --model '.join(models)} "
    + ("" if source == "bundled" else "--data PATH ")
    + (f"--tta {tta} " if tta != "none" else "")
    + "--out DIR (with the predictions as Parquet)."
)
