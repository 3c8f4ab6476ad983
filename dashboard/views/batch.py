"""Batch results: the table a batch run wrote (`python -m core batch`), filtered and sorted, its summary per model
and method, and the overlay and map of the chosen row."""

import streamlit as st

from core.batch.results import filtered, inside, summary
from core.classify import probability_text
from core.errors import UserError
from core.explain import METHODS
from core.trust.summary import is_reference
from dashboard import state

st.title("Batch results")
st.caption(
    "Open the output folder of `python -m core batch`: every image, model and method in one table. Sort by a "
    "column's heading, filter on the left of it, and choose a row to see its overlay and map."
)

SOURCES = {"folder": "Folder on this server", "zip": "Upload its zip"}
if not state.server_folders_allowed():
    SOURCES.pop("folder")
source = st.segmented_control("Results", list(SOURCES), format_func=SOURCES.get, default=next(iter(SOURCES)),
                              key="batch_source")  # fmt: skip
try:
    if source == "zip":
        upload = st.file_uploader("The output folder, zipped", type=["zip"], key="batch_zip",
                                  max_upload_size=state.EVALUATION_ZIP_MB)  # fmt: skip
        if upload is None:
            st.stop()
        folder = state.batch_results_from_zip(upload.file_id, upload.getvalue())
    else:
        path = st.text_input("Output folder on this server", key="batch_folder", placeholder="/data/results")
        if not path.strip():
            st.stop()
        folder = path.strip()
    results = state.batch_results(str(folder))
except UserError as error:
    st.error(str(error))
    st.stop()

rows, manifest = results.rows, results.manifest
if manifest:
    run = f"{manifest.get('engine', '?')} engine, ended {manifest.get('ended', '?')}"
    cut = " — **cut short**: run the same command again to finish it" if manifest.get("interrupted") else ""
    st.caption(f"{len(rows):,} rows from {rows['image'].nunique():,} images ({run}){cut}.")

filters, table = st.columns([1, 3])
with filters:
    models = st.multiselect("Models", sorted(rows["model"].unique()), key="batch_models", placeholder="all")
    methods = st.multiselect("Methods", sorted(rows["method"].unique()), key="batch_methods", placeholder="all")
    statuses = st.multiselect("Status", ["ok", "error"], key="batch_status", placeholder="both")
    # A range per number of the map itself; the references (random maps, a blob, a uniform map) are for reading a
    # row beside its own numbers, not for filtering, and the part shares wait in an expander.
    own = [c for c in results.metrics if not is_reference(c)]
    parts = [c for c in own if c.startswith("metric_part_")]
    ranges = {}
    for place, columns in [(st, ["probability", *[c for c in own if c not in parts]]),
                           (st.expander("Part shares") if parts else st, parts)]:  # fmt: skip
        for column in columns:
            values = rows[column].dropna().astype(float)
            if values.empty or values.min() == values.max():
                continue
            span = (float(values.min()), float(values.max()))
            label = column.removeprefix("metric_").removeprefix("part_").replace("_", " ")
            ranges[column] = place.slider(label, *span, span, key=f"batch_range_{column}")
shown = filtered(rows, models or None, methods or None, statuses or None, ranges).reset_index(drop=True)

with table:
    st.subheader("Per model and method")
    st.dataframe(summary(shown), hide_index=True, key="batch_summary")
    st.subheader(f"Rows · {len(shown):,} of {len(rows):,}")
    columns = ["name", "model", "method", "true_label", "predicted_label", "probability", *results.metrics,
               "x0", "y0", "x1", "y1", "seconds", "status", "error"]  # fmt: skip
    chosen = st.dataframe(
        shown[columns], hide_index=True, on_select="rerun", selection_mode="single-row", key="batch_table"
    )

picked = chosen.selection.rows if chosen is not None else []
if picked:
    row = shown.iloc[picked[0]]
    st.markdown(f"**{row['name']}** · {row['model']} · {row['method']} · {row['params']}")
    if row["status"] != "ok":
        st.error(row["error"])
    else:
        left, right = st.columns(2)
        overlay = inside(results.folder, row["overlay"])
        if overlay is not None:
            said = probability_text(row["probability"])
            left.image(str(overlay), caption=f"{row['target_label']} ({said}) with its box")
        method = METHODS.get(row["method"])
        picture = state.batch_map_picture(str(results.folder), row["map"], bool(method and method.signed))
        if picture is not None:
            right.image(picture, caption="The raw map on its own colour scale, at the model's input size")
        if overlay is None or picture is None:
            st.warning("This row's map or overlay file is missing from the folder.")
