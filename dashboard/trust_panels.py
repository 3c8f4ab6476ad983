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

from core.trust import TrustResult
from core.trust.faithfulness import DEFAULT_STEPS, SUBSTRATE_WORDS, SUBSTRATES
from core.trust.words import (
    CURVE_COLOURS,
    centre_sentence,
    curve_axis_title,
    deletion_sentence,
    energy_sentence,
    faithfulness_rows,
    hit_word,
    insertion_sentence,
    iou_sentence,
    localisation_rows,
    parts_sentence,
    pointing_sentence,
    reference_title,
    substrate_sentence,
)
from core.trust.words import number as _number

HOW_TO_READ = "docs/methods.md, “Can a map be trusted?”"
# The tables sit in half a row: smaller type and padding keep each number on one line.
STYLE = """
<style>
  [class*="_faithfulness"] table, [class*="_localisation"] table { font-size: 0.82rem; }
  [class*="_faithfulness"] th, [class*="_faithfulness"] td, [class*="_localisation"] th, [class*="_localisation"] td
    { padding: 0.2rem 0.45rem; }
</style>
"""


@dataclass(frozen=True)
class TrustOptions:
    substrate: str
    steps: int
    curves: bool


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


@dataclass(frozen=True)
class _Job:
    """One piece of work for `_computed`: its cache key, its cost in model passes, and what it computes."""

    key: tuple
    passes: int
    seconds: float
    doing: str  # "Deletion and insertion of demo-resnet's map of dog.png"
    work: Callable  # work(progress) -> the result, kept in dashboard.state


def _stopped_text(what: str, count: int) -> str:
    return f"Stopped: {what} {'was' if count == 1 else 'were'} not finished, and nothing half done was kept."


def _computed(jobs: list[_Job], *, key: str, what: str, button: str, detail: str = "") -> bool:
    """Whether every job's result is kept: those not yet computed show their cost first with a button, then run one
    by one in a worker thread with a progress bar and a Stop button (dashboard.waiting). False while waiting for the
    click or after a Stop."""
    from core.progress import Progress, Stopped
    from dashboard import waiting

    done = st.session_state.setdefault("computed_trust", set())
    pending = [job for job in jobs if job.key not in done]
    if not pending:
        return True
    request = (key, tuple(job.key for job in jobs))
    notice = st.empty()
    if waiting.was_stopped(request):
        with notice.container():
            st.info(_stopped_text(what, len(pending)))
            st.button(f"{button} again", key=f"{key}_again", on_click=waiting.ask_to_run, args=(request,))
        return False
    passes, seconds = sum(job.passes for job in pending), sum(job.seconds for job in pending)
    cost = (
        f"{len(pending)} {what} to compute: {passes:,} model passes in all ({pending[0].passes:,} each{detail}), about "
        f"{_duration(seconds)} on this machine. Results are kept, so this is paid once per image and setting."
    )
    if not waiting.was_asked(request):
        with notice.container():
            st.info(cost)
            if not st.button(button, type="primary", key=f"{key}_run"):
                return False
        waiting.ask_to_run(request)
    notice.info(cost)
    status = st.empty()
    with status.container(horizontal=True, vertical_alignment="center", key=f"{key}_status"):
        bar = st.progress(0.0, text=f"{pending[0].doing}…")
        waiting.stop_button(request, key=f"{key}_stop")
    try:
        for index, job in enumerate(pending):

            def show(progress, index=index, job=job):
                share = (index + progress.fraction) / len(pending)
                bar.progress(share, text=f"{job.doing}: {progress.fraction:.0%} · {index + 1} of {len(pending)}")

            waiting.run(job.key, job.work, Progress(job.doing, job.passes), show, request)
            done.add(job.key)
    except Stopped:
        status.empty()
        notice.info(_stopped_text(what, len(pending)))
        return False
    status.empty()
    notice.empty()
    return True


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
    reference_words: str = "",
) -> dict | None:
    """Every (model, row) map's checks (beside `references`, described in the cost as `reference_words`), kept in
    dashboard.state: the cost in model passes first, with a button; then a progress bar and a Stop button while
    they run. None until clicked, or when stopped."""
    items = [
        (name, row, selected, results[(name, row)], method, params, references(name, row) if references else {})
        for name in models
        for row, selected in enumerate(images)
    ]
    found = run_trust_items(items, options, key=key, reference_words=reference_words)
    return None if found is None else {(name, row): checks for (name, row, _), checks in found.items()}


def run_trust_items(items: list[tuple], options: TrustOptions, *, key: str, reference_words: str = "") -> dict | None:
    """The checks of each (model, row, selected image, explanation, method, params, references) item, by (model,
    row, method); see `run_trust`."""
    from dashboard import state

    entries, jobs = [], []
    for name, row, selected, result, method, params, refs in items:
        params_key = tuple(sorted(params.items()))
        maps = {title: raw for title, (_, raw) in refs.items()} or None
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
        passes = state.faithfulness_passes(len(refs), options.steps)

        def work(progress, faith_key=faith_key, image=selected.image, raw=result.map, maps=maps):
            return state.faithfulness(*faith_key, image, raw, maps, progress)

        doing = f"Deletion and insertion of {name}'s map of {selected.image.name}"
        seconds = passes * state.get_model(name).seconds_per_image
        jobs.append(_Job(("faithfulness", *faith_key), passes, seconds, doing, work))
        entries.append((name, row, selected, result, method, params_key, maps, faith_key))
    what = "map checks" if len(jobs) > 1 else "map check"
    detail = f": {options.steps} steps of removing and of restoring pixels, for the map, three random maps, a blob" + (
        f" and {reference_words}" if reference_words else ""
    )
    if not _computed(jobs, key=f"{key}_trust", what=what, button="Run the checks", detail=detail):
        return None
    found = {}
    for name, row, selected, result, method, params_key, maps, faith_key in entries:
        faith = state.faithfulness(*faith_key, selected.image, result.map, maps)
        truth = state.truth_of(selected)
        local = None
        if truth is not None:
            local = state.localisation(name, selected.image.sha256, method, params_key, int(result.target),
                                       state.truth_key(truth), result.map, truth)  # fmt: skip
        found[(name, row, method)] = TrustResult(faith, local, result.target_label)
    return found


def run_sanity(images, models: list[str], results: dict, method: str, params: dict, steps: int, *, key: str):
    """Every (model, row) sanity check as (the key it is kept under, core.trust.sanity.ImageSanity), kept in
    dashboard.state, run like `run_trust`; a model whose weights cannot be randomised (TensorFlow Lite, SavedModel)
    is left out, and one sentence says so. None until clicked, or when stopped."""
    from core.trust.sanity import unrandomisable_sentence
    from dashboard import state

    params_key = tuple(sorted(params.items()))
    entries, jobs = [], []
    for name in models:
        model = state.get_model(name)
        reason = unrandomisable_sentence(model)
        if reason is not None:
            st.info(reason)
            continue
        for row, selected in enumerate(images):
            result = results[(name, row)]
            sanity_key = (name, selected.image.sha256, method, params_key, int(result.target), steps)
            passes = state.sanity_passes(name, method, params, steps)

            def work(progress, sanity_key=sanity_key, image=selected.image):
                return state.sanity(*sanity_key, image, progress)

            doing = f"Sanity check of {name}'s map of {selected.image.name}"
            jobs.append(_Job(("sanity", *sanity_key), passes, passes * model.seconds_per_image, doing, work))
            entries.append((name, row, selected, sanity_key))
    what = "sanity checks" if len(jobs) > 1 else "sanity check"
    detail = f": the map again after each of {steps} steps of randomising the weights"
    if not _computed(jobs, key=f"{key}_sanity", what=what, button="Run the sanity check", detail=detail):
        return None
    return {
        (name, row): (sanity_key, state.sanity(*sanity_key, selected.image))
        for name, row, selected, sanity_key in entries
    }


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _markdown(rows: list[list[str]]) -> str:
    """A markdown table of text rows (the first is the heading), the map's own column (the second) in bold."""

    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    head, *body = rows
    return "\n".join([line(head), "|---" * len(head) + "|", *(line([r[0], f"**{r[1]}**", *r[2:]]) for r in body)])


def faithfulness_table(report) -> str:
    """The markdown table of the map's deletion and insertion AUCs beside each reference's."""
    return _markdown(faithfulness_rows(report))


def localisation_table(report) -> str:
    """The markdown table of pointing game, energy in the box and box IoU beside the references'."""
    return _markdown(localisation_rows(report))


def trust_block(result: TrustResult, options: TrustOptions, key: str) -> None:
    """One map's checks in the current container: each table of numbers with its references, a sentence per
    number, the curves and the parts chart where asked for and known."""
    faith, label = result.faithfulness, result.target_label
    st.html(STYLE)
    with st.container(key=f"{key}_faithfulness"):
        st.markdown(
            "**Is the map true to the model?** Deletion and insertion",
            help=f"{substrate_sentence(faith)} ↓: lower is better; ↑: higher is better.",
        )
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
    """The target's probability per step of deletion (solid) and insertion (dashed), for the map and its references,
    with the substrate named."""
    import pandas as pd

    named = [("this map", report.map), *((reference_title(n), f) for n, f in report.references.items())]
    rows = [
        {"map": name, "curve": curve, "pixels": float(fraction), "probability": float(probability)}
        for name, faith in named
        for curve in ("deletion", "insertion")
        for fraction, probability in zip(faith.fractions, getattr(faith, curve), strict=True)
    ]
    spec = {
        # The whole chart's height, legends and axis titles included (Streamlit fits a stretched chart to it).
        "height": 330,
        "mark": {"type": "line", "point": {"size": 10}},
        "encoding": {
            "x": {"field": "pixels", "type": "quantitative", "axis": {"format": "%"},
                  "title": curve_axis_title(report.map.substrate)},
            "y": {"field": "probability", "type": "quantitative", "title": f"p({label})", "scale": {"domain": [0, 1]}},
            "color": {"field": "map", "type": "nominal", "title": None, "sort": [name for name, _ in named],
                      "legend": {"orient": "bottom", "columns": 2},
                      # This map in the page's highlight colour, as in the parts chart; references in greys and blues.
                      "scale": {"domain": [name for name, _ in named],
                                "range": list(CURVE_COLOURS[: len(named)])}},
            "strokeDash": {"field": "curve", "type": "nominal", "legend": None,
                           "scale": {"domain": ["deletion", "insertion"], "range": [[1, 0], [4, 3]]}},
            "tooltip": [{"field": "map"}, {"field": "curve"}, {"field": "pixels", "format": ".0%"},
                        {"field": "probability", "format": ".3f"}],
        },
    }  # fmt: skip
    st.vega_lite_chart(pd.DataFrame(rows), spec, width="stretch", key=key)


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
            "yOffset": {"field": "of", "sort": ["this map", "its area (uniform map)"]},
            "x": {"field": "share", "type": "quantitative", "title": "share of the map's positive weight",
                  "axis": {"format": "%"}},
            "color": {"field": "of", "type": "nominal", "title": None, "legend": {"orient": "bottom"},
                      "scale": {"domain": ["this map", "its area (uniform map)"], "range": ["#e4572e", "#9aa5b1"]}},
            "tooltip": [{"field": "part"}, {"field": "of"}, {"field": "share", "format": ".1%"}],
        },
    }  # fmt: skip
    st.vega_lite_chart(pd.DataFrame(rows), spec, width="stretch", key=key)


def sanity_controls(key: str) -> int | None:
    """The switch that asks for the sanity check, and its number of steps; None while it is off."""
    from core.trust.sanity import DEFAULT_STEPS as SANITY_STEPS

    columns = st.columns([3, 1], vertical_alignment="bottom")
    on = columns[0].toggle(
        "Sanity check: does the map change when the model's weights are made random?",
        key=f"{key}_sanity",
        persist_state="session",
        help="The model's layers are re-initialised from the output down, a few at a time, on a copy, and the map "
        "is made again after each step. A map that stays the same shows the image, not what the model learned. "
        f"An edge detector, which ignores the model, goes through the same steps as a control. {HOW_TO_READ}.",
    )
    if not on:
        return None
    steps = columns[1].number_input(
        "Randomisation steps",
        min_value=1,
        max_value=30,
        value=SANITY_STEPS,
        key=f"{key}_sanity_steps",
        persist_state="session",
        help="The weighted layers are randomised in this many groups, the top layer first; one map per step.",
    )
    return int(steps)


def sanity_table(result) -> str:
    """Markdown table: after each step, the rank correlation and SSIM with the original map, of the method and of
    the edge detector."""
    check, control = result.check, result.control
    head = (
        f"| step | randomised down to | {check.title}: Spearman | SSIM | edge detector: Spearman | SSIM |\n"
        "|---|---|---|---|---|---|"
    )
    rows = [
        f"| {number} | {mine.layer} ({mine.layers} layers) | {mine.spearman:.3f} | {mine.ssim:.3f} | "
        f"{other.spearman:.3f} | {other.ssim:.3f} |"
        for number, (mine, other) in enumerate(zip(check.steps, control.steps, strict=True), 1)
    ]
    return "\n".join([head, *rows])


def sanity_section(images, models: list[str], checks: dict, method: str, key: str) -> None:
    """Every sanity check, one bordered block per image and model (the strips are wide: they take the page's width)."""
    from core.explain import METHODS
    from dashboard import state
    from dashboard.components import image_heading

    for (name, row), (sanity_key, result) in checks.items():
        with st.container(border=True, key=f"{key}_sanity_{row}_{models.index(name)}"):
            st.markdown(f"{image_heading(images[row])} · {name} · {METHODS[method].title}")
            sanity_block(result, state.sanity_picture(sanity_key, result, METHODS[method].signed))


def sanity_block(result, picture: bytes) -> None:
    """One map's sanity check: the strip of maps after each step, the verdict on the method and on the control,
    and the numbers per step one click away."""
    check, control = result.check, result.control
    st.image(
        picture,
        width="stretch",
        output_format="PNG",
        caption="Top row: the map, then the map after each step (the weights randomised down to the layer "
        "named, rho: rank correlation, ssim: structural similarity with the original). Bottom row: an edge "
        "detector, the control.",
    )
    (st.warning if check.flagged else st.success)(check.sentence)
    st.caption(
        f"Control: {control.sentence} It ignores the model by construction, so it is always flagged; a method "
        "flagged like it shows no more than the image's edges."
    )
    with st.expander("Numbers per step"):
        st.markdown(sanity_table(result))


def substrate_sentence_of(checks: dict) -> str:
    """The substrate sentence of any of the checks (they share their settings)."""
    return substrate_sentence(next(iter(checks.values())).faithfulness) if checks else ""


def methods_table(checks: dict) -> str:
    """Markdown table, one row per method (`checks`: {method title: TrustResult}) of one image and model: deletion
    and insertion beside the random map's and the blob's, and the localisation numbers beside a uniform map's."""
    local = any(result.localisation is not None for result in checks.values())
    head = "| method | deletion AUC ↓ (random, blob) | insertion AUC ↑ (random, blob) |"
    rule = "|---|---|---|"
    if local:
        head += " pointing game | energy in the box (uniform) | box IoU (uniform) |"
        rule += "---|---|---|"
    rows = []
    for title, result in checks.items():
        faith = result.faithfulness
        random, centre = faith.references["random"], faith.references["centre"]
        row = (
            f"| {title} | **{_number(faith.map.deletion_auc)}** ({_number(random.deletion_auc)}, "
            f"{_number(centre.deletion_auc)}) | **{_number(faith.map.insertion_auc)}** "
            f"({_number(random.insertion_auc)}, {_number(centre.insertion_auc)}) |"
        )
        if local and result.localisation is not None:
            found, uniform = result.localisation.map, result.localisation.references["uniform"]
            row += (
                f" {hit_word(found.pointing_hit)} | **{_number(found.energy_in_box)}** "
                f"({_number(uniform.energy_in_box)}) |"
                f" **{_number(found.box_iou)}** ({_number(uniform.box_iou)}) |"
            )
        rows.append(row)
    return "\n".join([head, rule, *rows])


def summary_table(summaries: dict) -> str:
    """Markdown table, one row per model (`summaries`: {model: core.trust.summary.summarise(...)}): the means of
    the checks over a set beside the means of their references."""
    head = (
        "| model | images | deletion AUC ↓ (random, blob) | insertion AUC ↑ (random, blob) | pointing game (chance) "
        "| energy in the box (box area) | share on the dog (dog's area) |\n|---|---|---|---|---|---|---|"
    )
    rows = []
    for name, s in summaries.items():
        row = (
            f"| {name} | {s['images']} | **{_number(s['deletion_auc'])}** ({_number(s['deletion_auc_random'])}, "
            f"{_number(s['deletion_auc_centre'])}) | **{_number(s['insertion_auc'])}** "
            f"({_number(s['insertion_auc_random'])}, {_number(s['insertion_auc_centre'])}) |"
        )
        if s.get("with_box"):
            row += (
                f" **{s['pointing_accuracy']:.0%}** ({s['pointing_chance']:.0%}) | **{_number(s['energy_in_box'])}** "
                f"({_number(s['box_area'])}) | **{_number(s.get('share_on_dog'))}** ({_number(s.get('dog_area'))}) |"
            )
        else:
            row += " — | — | — |"
        rows.append(row)
    return "\n".join([head, *rows])
