"""Streamlit renderers of the Evaluate page: numbers with their reference and reading, the clickable confusion
matrix, the reliability and coverage charts, and galleries whose pictures open their explanations. Presentation
only: every number comes from core.evaluation."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.classify import probability_text
from core.evaluation import words
from core.evaluation.results import Evaluation, ModelEvaluation

COLOURS = ("#e4572e", "#2e86ab")  # model A, model B: as in the HTML report
GALLERY_COLUMNS = 6
GALLERY_ROWS = 2
OPEN_FLAG = "_evaluation_open_explanation"


def reading(value: words.Reading | None, *, key: str) -> None:
    """A number as a metric, what it is compared against under it, and one sentence on how to read it."""
    if value is None:
        return
    with st.container(key=key):
        if len(value.value) <= 24:
            st.metric(value.name, value.value)
        else:  # a metric would cut a long value short
            st.caption(value.name)
            st.markdown(f"**{value.value}**")
        st.caption(value.reference)
        st.markdown(value.sentence)


def confusion(m: ModelEvaluation, key: str) -> tuple[str, str] | None:
    """The confusion matrix as a table whose cells can be clicked; returns the clicked cell as (given class,
    answered class), or None."""
    import pandas as pd

    labels = [m.labels[k] for k in m.shown_classes]
    frame = pd.DataFrame(m.confusion, index=[f"given: {label}" for label in labels], columns=labels)
    styled = frame.style.background_gradient(cmap="Blues", axis=None)
    event = st.dataframe(
        styled,
        key=key,
        on_select="rerun",
        selection_mode="single-cell",
        width="content" if len(labels) <= 6 else "stretch",
    )
    cells = event.selection.get("cells") if event is not None else None
    if not cells:
        return None
    row, column = cells[0]
    return labels[int(row)], str(column)


def per_class_table(m: ModelEvaluation) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {"class": label, "precision": s.precision, "recall": s.recall, "F1": s.f1, "images": s.support}
            for label, s in m.per_class.items()
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="content",
        column_config={name: st.column_config.NumberColumn(format="%.3f") for name in ("precision", "recall", "F1")},
    )


def reliability_chart(m: ModelEvaluation, colour: str, key: str) -> None:
    """Accuracy per confidence bin as bars over the diagonal of perfect calibration; each bar's image count."""
    r = m.reliability
    rows = [
        {
            "from": float(r.edges[i]),
            "to": float(r.edges[i + 1]),
            "accuracy": float(r.accuracy[i]),
            "confidence": float(r.confidence[i]),
            "images": int(r.counts[i]),
        }
        for i in range(len(r.counts))
        if r.counts[i]
    ]
    scale = {"domain": [0, 1]}
    spec = {
        "height": 240,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "bar", "color": colour, "opacity": 0.85},
                "encoding": {
                    "x": {"field": "from", "type": "quantitative", "title": "confidence", "scale": scale,
                          "axis": {"format": "%"}},
                    "x2": {"field": "to"},
                    "y2": {"datum": 0},
                    "y": {"field": "accuracy", "type": "quantitative", "title": "share right", "scale": scale,
                          "axis": {"format": "%"}},
                    "tooltip": [
                        {"field": "images"},
                        {"field": "confidence", "format": ".1%", "title": "mean confidence"},
                        {"field": "accuracy", "format": ".1%", "title": "share right"},
                    ],
                },
            },
            {
                "data": {"values": rows},
                "mark": {"type": "text", "dy": -6, "fontSize": 10},
                "encoding": {
                    "x": {"field": "from", "type": "quantitative"},
                    "y": {"field": "accuracy", "type": "quantitative"},
                    "text": {"field": "images"},
                },
            },
            {
                "data": {"values": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
                "mark": {"type": "line", "strokeDash": [4, 3], "color": "#9aa5b1"},
                "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}},
            },
        ],
    }  # fmt: skip
    st.vega_lite_chart(spec, width="stretch", key=key)
    st.caption(
        "Bars: the share right among the answers in each confidence bin, its image count on top. A perfectly "
        "calibrated model's bars reach the dashed diagonal."
    )


def coverage_chart(models: list[ModelEvaluation], threshold: float, key: str) -> None:
    """Accuracy of the kept answers against the share kept, per model, with the slider's threshold marked."""
    from core.evaluation import metrics

    rows, marks = [], []
    for m in models:
        c = m.coverage
        rows += [
            {"model": m.model, "coverage": float(x), "accuracy": float(y), "threshold": float(t)}
            for x, y, t in zip(c.coverage, c.accuracy, c.thresholds, strict=True)
        ]
        s = metrics.withhold_below(m.confidence, m.correct, threshold)
        if s.kept:
            marks.append({"model": m.model, "coverage": s.coverage, "accuracy": s.accuracy})
    low = max(0.0, np.floor(min([r["accuracy"] for r in rows] + [0.9]) * 20) / 20)
    colour = {
        "field": "model",
        "type": "nominal",
        "scale": {"domain": [m.model for m in models], "range": list(COLOURS[: len(models)])},
        "legend": {"orient": "bottom", "title": None},
    }
    x = {"field": "coverage", "type": "quantitative", "title": "share of images answered", "axis": {"format": "%"},
         "scale": {"domain": [0, 1]}}  # fmt: skip
    y = {"field": "accuracy", "type": "quantitative", "title": "accuracy kept",
         "axis": {"format": "%"}, "scale": {"domain": [low, 1]}}  # fmt: skip
    spec = {
        "height": 260,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "interpolate": "step-before", "clip": True},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": [
                    {"field": "model"}, {"field": "threshold", "format": ".3f"},
                    {"field": "coverage", "format": ".1%"}, {"field": "accuracy", "format": ".1%"}]},
            },
            {
                "data": {"values": marks},
                "mark": {"type": "point", "filled": True, "size": 90},
                "encoding": {"x": x, "y": y, "color": colour},
            },
        ],
    }  # fmt: skip
    st.vega_lite_chart(spec, width="stretch", key=key)
    st.caption(
        "Withholding the least confident answers first (right to left), how accurate the rest are; the dots mark "
        "the threshold chosen above."
    )


def agreement_table(e: Evaluation) -> None:
    import pandas as pd

    a, b = e.names
    t = e.agreement
    frame = pd.DataFrame(
        {f"{b} right": [t.both_right, t.only_b], f"{b} wrong": [t.only_a, t.both_wrong]},
        index=[f"{a} right", f"{a} wrong"],
    )
    st.table(frame)
    st.caption(
        f"{_images(t.only_a)} only {a} gets right and {_images(t.only_b)} only {b}: McNemar's test compares these "
        "two counts, since the images both get right or both get wrong say nothing about which is better."
    )


def _images(count: int) -> str:
    return f"{count:,} image{'' if count == 1 else 's'}"


def gallery(e: Evaluation, rows: list[int], models: list[ModelEvaluation], key: str, note: str = "") -> None:
    """Thumbnails in rows, each with the given class and each model's answer, and a button that opens the image
    on the explanation pages."""
    from dashboard import state

    shown = rows[: GALLERY_COLUMNS * GALLERY_ROWS]
    more = f" Showing the first {len(shown)} of {len(rows):,}." if len(rows) > len(shown) else ""
    if note or more:
        st.caption(note + more)
    if not rows:
        st.info("No image is in this gallery.")
        return
    images = e.images
    hashes = e.sha256
    for start in range(0, len(shown), GALLERY_COLUMNS):
        columns = st.columns(GALLERY_COLUMNS)
        for column, row in zip(columns, shown[start : start + GALLERY_COLUMNS], strict=False):
            image = images[row]
            with column:
                picture = state.evaluation_thumbnail(hashes[row], str(image.path), image.name)
                if picture is None:
                    st.warning(f"{image.name} can no longer be read.")
                    continue
                st.image(picture, width="stretch")
                answers = "  \n".join(
                    (f"{m.model}: " if len(models) > 1 else "")
                    + f"{m.labels[m.predicted[row]]} {probability_text(m.confidence[row], 0)}"
                    + ("" if m.correct[row] else " ✗")
                    for m in models
                )
                st.caption(f"**{image.name}**  \ngiven: {models[0].labels[models[0].truth[row]]}  \n{answers}")
                st.button(
                    "Explain",
                    key=f"{key}_open_{row}",
                    help="Open this image on the explanation pages, with its true class.",
                    on_click=open_explanation,
                    args=(e, row),
                    width="stretch",
                )


def open_explanation(e: Evaluation, row: int) -> None:
    """Button callback: the image joins the selection (with its true class in model A's words, and its box) and
    the page script then switches to the Saliency page."""
    from core.errors import UserError
    from core.evaluation.data import load_image
    from dashboard import state

    image = e.images[row]
    m = e.models[0]
    try:
        decoded = load_image(image)
    except UserError as error:
        st.session_state["_evaluation_open_error"] = str(error)
        return
    state.choose_evaluated(state.SelectedImage(decoded, m.labels[m.truth[row]], image.box))
    st.session_state[OPEN_FLAG] = True
