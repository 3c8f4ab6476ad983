"""Small Streamlit renderers shared by the views: presentation only, no model code."""

from __future__ import annotations

import streamlit as st

from core.classify import Prediction


def prediction_chart(predictions: list[Prediction], key: str) -> None:
    """Horizontal bars of the top classes, the winner highlighted, probabilities as percentages."""
    rows = [{"class": p.label, "probability": p.probability, "top": i == 0} for i, p in enumerate(predictions)]
    spec = {
        "mark": {"type": "bar", "cornerRadiusEnd": 3, "height": {"band": 0.7}},
        "encoding": {
            "y": {"field": "class", "type": "nominal", "sort": "-x", "title": None,
                  "axis": {"labelLimit": 160, "labelFontSize": 13}},
            "x": {"field": "probability", "type": "quantitative", "title": None,
                  "scale": {"domain": [0, 1]}, "axis": {"format": "%", "tickCount": 5}},
            "color": {"field": "top", "type": "nominal", "legend": None,
                      "scale": {"domain": [True, False], "range": ["#e4572e", "#9aa5b1"]}},
            "tooltip": [{"field": "class"}, {"field": "probability", "format": ".1%"}],
        },
        "height": 34 * len(rows),
    }
    text = {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12},
            "encoding": {"y": spec["encoding"]["y"], "x": spec["encoding"]["x"],
                         "text": {"field": "probability", "format": ".1%"}}}
    st.vega_lite_chart({"values": rows}, {"layer": [spec, text], "height": spec["height"]},
                       width="stretch", key=key)


def verdict(predictions: list[Prediction]) -> None:
    top = predictions[0]
    st.markdown(f"**{top.label}** · {top.probability:.1%}")
