"""Can these maps be trusted? The trust checks (core.trust) beside each map, on request: deletion and insertion
beside random maps and a centred blob, and where the truth is known the pointing game, the energy in the box, the
fitted box's IoU and the share of each part; and the sanity check's strip. Presentation only: the numbers come
from dashboard.state, which keeps them like the maps; the cost shows before a click and the work runs through
dashboard.waiting (progress, Stop)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.trust.faithfulness import DEFAULT_STEPS, SUBSTRATE_WORDS, SUBSTRATES
from core.trust.words import (
    centre_sentence,
    deletion_sentence,
    energy_sentence,
    insertion_sentence,
    iou_sentence,
    parts_sentence,
    pointing_sentence,
    reference_title,
    substrate_sentence,
)

HOW_TO_READ = "docs/methods.md, “Can a map be trusted?”"


@dataclass(frozen=True)
class TrustOptions:
    substrate: str
    steps: int
    curves: bool


@dataclass(frozen=True)
class TrustResult:
    """One map's checks: faithfulness (core.trust.faithfulness.FaithfulnessReport) and, where the truth is known,
    localisation (core.trust.localisation.LocalisationReport, else None)."""

    faithfulness: object
    localisation: object | None
    target_label: str


def trust_controls(key: str) -> TrustOptions | None:
    """The switch that asks for the checks, and their settings; None while it is off."""
    on = st.toggle(
        "Can these maps be trusted? Check them",
        key=f"{key}_trust",
        persist_state="session",
        help="Deletion and insertion (does removing what the map points at lower the score?) beside a random map and "
        "a centred blob, and, where the image knows where the dog is, whether the map points at it. "
        f"How to read each number: {HOW_TO_READ}.",
    )
    if not on:
        return None
    columns = st.columns(3)
    substrate = columns[0].selectbox(
        "Removed pixels become",
        SUBSTRATES,
        format_func=lambda s: SUBSTRATE_WORDS[s],
        key=f"{key}_trust_substrate",
        persist_state="session",
        help="What replaces a pixel the map ranks high when it is removed (and what the image starts as when "
        "pixels are restored). The curves depend on it: a model may still see a blurred dog.",
    )
    steps = columns[1].number_input(
        "Steps",
        min_value=2,
        max_value=100,
        value=DEFAULT_STEPS,
        step=5,
        key=f"{key}_trust_steps",
        persist_state="session",
        help="Pixels are removed (and restored) in this many equal steps; each step is a model pass per map.",
    )
    curves = columns[2].toggle(
        "Show the curves", key=f"{key}_trust_curves", persist_state="session", help="The target's probability per step."
    )
    return TrustOptions(substrate, int(steps), curves)


References = Callable[[str, int], dict]  # (model, row) -> {title: (explanation key, map)}


def run_trust(
    images,
    models: list[str],
    results: dict,
    method: str,
    params: dict,
    options: TrustOptions,
    *,
    key: str,
    references: References | None = None,
) -> dict | None:
    """Every (model, row) map's checks, kept in dashboard.state: the cost in model passes first, with a button;
    then a progress bar and a Stop button while they run. None until clicked, or when stopped."""
    from core.progress import Progress, Stopped
    from dashboard import state, waiting

    params_key = tuple(sorted(params.items()))
    jobs = []
    for name in models:
        for row, selected in enumerate(images):
            result = results[(name, row)]
            refs = references(name, row) if references else {}
            faith_key = (
                name,
                selected.image.sha256,
                method,
                params_key,
                int(result.target),
                options.substrate,
                options.steps,
                tuple((title, ref_key) for title, (ref_key, _) in refs.items()),
            )
            jobs.append((name, row, selected, result, refs, faith_key))
    done = st.session_state.setdefault("computed_trust", set())
    pending = [job for job in jobs if job[5] not in done]
    request = ("trust", tuple(job[5] for job in jobs))
    notice = st.empty()
    if pending and waiting.was_stopped(request):
        with notice.container():
            st.info("Stopped: the checks were not finished, and nothing half done was kept.")
            st.button("Run the checks again", key=f"{key}_trust_again", on_click=waiting.ask_to_run, args=(request,))
        return None
    if pending:
        passes = [state.faithfulness_passes(len(job[4]), options.steps) for job in pending]
        seconds = sum(p * state.get_model(job[0]).seconds_per_image for p, job in zip(passes, pending, strict=True))
        cost = (
            f"{len(pending)} map{'s' if len(pending) > 1 else ''} to check: {sum(passes):,} model passes in all "
            f"({passes[0]} per map: {options.steps} steps of removing and of restoring pixels, for the map, three "
            f"random maps and a centred blob), about {_duration(seconds)} on this machine. Results are kept."
        )
        if not waiting.was_asked(request):
            with notice.container():
                st.info(cost)
                if not st.button("Run the checks", type="primary", key=f"{key}_trust_run"):
                    return None
            waiting.ask_to_run(request)
        notice.info(cost)
        status = st.container(horizontal=True, vertical_alignment="center", key=f"{key}_trust_status")
        with status:
            bar = st.progress(0.0, text="Checking the maps…")
            waiting.stop_button(request, key=f"{key}_trust_stop")
        try:
            for index, (name, _, selected, result, refs, faith_key) in enumerate(pending):
                image = selected.image
                total = state.faithfulness_passes(len(refs), options.steps)

                def work(progress, name=name, image=image, result=result, refs=refs, faith_key=faith_key):
                    return state.faithfulness(
                        *faith_key, image, result.map, {t: m for t, (_, m) in refs.items()} or None, progress
                    )

                def show(progress, index=index, name=name, image=image):
                    share = (index + progress.fraction) / len(pending)
                    bar.progress(share, text=f"Deletion and insertion of {name}'s map of {image.name}: "
                                 f"{progress.fraction:.0%} · {index + 1} of {len(pending)}")  # fmt: skip

                doing = Progress(f"Checking {name}'s map of {image.name}", total)
                waiting.run(("trust", faith_key), work, doing, show, request)
                done.add(faith_key)
        except Stopped:
            status.empty()
            notice.info("Stopped: the checks were not finished, and nothing half done was kept.")
            return None
        status.empty()
    notice.empty()
    found = {}
    for name, row, selected, result, refs, faith_key in jobs:
        faith = state.faithfulness(*faith_key, selected.image, result.map, {t: m for t, (_, m) in refs.items()} or None)
        truth = state.truth_of(selected)
        local = None
        if truth is not None:
            local = state.localisation(name, selected.image.sha256, method, params_key, int(result.target),
                                       state.truth_key(truth), result.map, truth)  # fmt: skip
        found[(name, row)] = TrustResult(faith, local, result.target_label)
    return found


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _number(value: float, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def faithfulness_table(report) -> str:
    """The markdown table of the map's deletion and insertion AUCs beside each reference's."""
    names = list(report.references)
    head = "| | this map | " + " | ".join(reference_title(n) for n in names) + " |"
    rule = "|---" * (2 + len(names)) + "|"
    rows = [
        "| Deletion AUC (lower is better) | **"
        + _number(report.map.deletion_auc)
        + "** | "
        + " | ".join(_number(report.references[n].deletion_auc) for n in names)
        + " |",
        "| Insertion AUC (higher is better) | **"
        + _number(report.map.insertion_auc)
        + "** | "
        + " | ".join(_number(report.references[n].insertion_auc) for n in names)
        + " |",
    ]
    return "\n".join([head, rule, *rows])


def localisation_table(report) -> str:
    """The markdown table of pointing game, energy in the box and box IoU beside the references'."""
    names = list(report.references)
    head = "| | this map | " + " | ".join(reference_title(n) for n in names) + " |"
    rule = "|---" * (2 + len(names)) + "|"

    def pointing(name: str) -> str:
        share = report.references[name].pointing_hit
        return f"{share:.0%} {'chance' if name == 'uniform' else 'hits'}" if name != "centre" else _hit(share)

    rows = [
        f"| Pointing game | **{_hit(report.map.pointing_hit)}** | " + " | ".join(pointing(n) for n in names) + " |",
        f"| Energy in the box | **{_number(report.map.energy_in_box)}** | "
        + " | ".join(_number(report.references[n].energy_in_box) for n in names)
        + " |",
        f"| Box IoU | **{_number(report.map.box_iou)}** | "
        + " | ".join(_number(report.references[n].box_iou) for n in names)
        + " |",
    ]
    return "\n".join([head, rule, *rows])


def _hit(value: float) -> str:
    return "hit" if value >= 1 else "miss"


def trust_block(result: TrustResult, options: TrustOptions, key: str) -> None:
    """One map's checks in the current container: each table of numbers with its references, a sentence per
    number, the curves and the parts chart where asked for and known."""
    faith, label = result.faithfulness, result.target_label
    with st.container(key=f"{key}_faithfulness"):
        st.markdown("**Is the map true to the model?** Deletion and insertion", help=substrate_sentence(faith))
        st.markdown(faithfulness_table(faith))
        sentences = [deletion_sentence(faith, label), insertion_sentence(faith, label), centre_sentence(faith)]
        for sentence in filter(None, sentences):
            st.caption(sentence)
        if options.curves:
            curve_chart(faith, label, key=f"{key}_curves")
    if result.localisation is not None:
        local = result.localisation
        with st.container(key=f"{key}_localisation"):
            st.markdown(
                "**Does it point at the dog?** Against the true box",
                help=f"The pointing game counts a hit within {local.tolerance:.1f} pixels of the box. Energy: the "
                "share of the map's positive weight inside the box. Box IoU: the box fitted to the map against the "
                f"true box. {HOW_TO_READ}.",
            )
            st.markdown(localisation_table(local))
            for sentence in (pointing_sentence(local), energy_sentence(local), iou_sentence(local)):
                st.caption(sentence)
            if local.map.parts:
                parts_chart(local, key=f"{key}_parts")
                sentence = parts_sentence(local)
                if sentence:
                    st.caption(sentence)


def curve_chart(report, label: str, key: str) -> None:
    """The target's probability per step of deletion and of insertion, for the map and its references."""
    import pandas as pd

    rows = []
    for name, faith in [("this map", report.map), *((reference_title(n), f) for n, f in report.references.items())]:
        for curve, values in (("deletion", faith.deletion), ("insertion", faith.insertion)):
            for fraction, probability in zip(faith.fractions, values, strict=True):
                rows.append({"map": name, "curve": curve, "pixels": float(fraction), "probability": float(probability)})
    substrate = SUBSTRATE_WORDS[report.map.substrate]
    spec = {
        "height": 130,
        "mark": {"type": "line", "point": {"size": 12}},
        "encoding": {
            "x": {"field": "pixels", "type": "quantitative", "title": "share of pixels removed / restored",
                  "axis": {"format": "%"}},
            "y": {"field": "probability", "type": "quantitative", "title": f"p({label})",
                  "scale": {"domain": [0, 1]}},
            "color": {"field": "map", "type": "nominal", "title": None, "legend": {"orient": "bottom"}},
            "column": {"field": "curve", "type": "nominal", "title": f"Removed pixels become {substrate}"},
            "tooltip": [{"field": "map"}, {"field": "curve"}, {"field": "pixels", "format": ".0%"},
                        {"field": "probability", "format": ".3f"}],
        },
    }  # fmt: skip
    st.vega_lite_chart(pd.DataFrame(rows), spec, key=key)


def parts_chart(report, key: str) -> None:
    """Share of the map's positive weight per part, beside each part's share of the image (a uniform map's)."""
    import pandas as pd

    areas = report.references["uniform"].parts
    rows = []
    for part, share in report.map.parts.items():
        if share is None or math.isnan(share):
            continue
        rows.append({"part": part, "of": "this map", "share": share})
        rows.append({"part": part, "of": "its area (uniform map)", "share": areas.get(part, 0.0)})
    spec = {
        "height": {"step": 11},
        "mark": {"type": "bar", "cornerRadiusEnd": 2},
        "encoding": {
            "y": {"field": "part", "type": "nominal", "title": None, "sort": list(report.map.parts)},
            "yOffset": {"field": "of"},
            "x": {"field": "share", "type": "quantitative", "title": "share of the map's positive weight",
                  "axis": {"format": "%"}},
            "color": {"field": "of", "type": "nominal", "title": None, "legend": {"orient": "bottom"},
                      "scale": {"range": ["#e4572e", "#9aa5b1"]}},
            "tooltip": [{"field": "part"}, {"field": "of"}, {"field": "share", "format": ".1%"}],
        },
    }  # fmt: skip
    st.vega_lite_chart(pd.DataFrame(rows), spec, width="stretch", key=key)
