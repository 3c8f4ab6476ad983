"""Small Streamlit renderers shared by the views: presentation only, no model code."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.classify import Prediction, probability_text
from core.explain.registry import Parameter
from core.render import (
    OPACITY,
    PER_MAP,
    SHARED,
    UNSIGNED_COLOURMAP,
    is_blank,
    limit_caption,
    scale_sentence,
)


def row_key(image) -> str:
    """A stable key (and CSS class st-key-…) for one image's row, from its content hash."""
    return f"image_{image.sha256[:16]}"


def image_heading(selected, *, bold: bool = True) -> str:
    """A selected image's name (bold, for markdown) and its true class where known: 'name — true class: …'."""
    name = f"**{selected.image.name}**" if bold else selected.image.name
    return name + (f" — true class: {selected.label}" if selected.label else "")


def prediction_chart(predictions: list[Prediction], key: str) -> None:
    """Horizontal bars of the top classes, the winner highlighted, probabilities as percentages."""
    import pandas as pd

    rows = pd.DataFrame(
        [{"class": p.label, "probability": p.probability, "top": i == 0} for i, p in enumerate(predictions)]
    )
    spec = {
        "height": {"step": 30},
        # One shared x and y for both layers, or each layer draws its own axis on top of the other.
        "encoding": {
            "y": {
                "field": "class",
                "type": "nominal",
                "sort": [p.label for p in predictions],
                "title": None,
                "axis": {"labelLimit": 160, "labelFontSize": 13, "ticks": False, "domain": False},
            },
            "x": {
                "field": "probability",
                "type": "quantitative",
                "title": None,
                "scale": {"domain": [0, 1.15]},
                "axis": {"format": "%", "values": [0, 0.25, 0.5, 0.75, 1], "grid": True},
            },
        },
        "layer": [
            {
                "mark": {"type": "bar", "cornerRadiusEnd": 3, "height": {"band": 0.65}},
                "encoding": {
                    "color": {
                        "field": "top",
                        "type": "nominal",
                        "legend": None,
                        "scale": {"domain": [True, False], "range": ["#e4572e", "#9aa5b1"]},
                    },
                    "tooltip": [{"field": "class"}, {"field": "probability", "format": ".1%"}],
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12},
                "encoding": {"text": {"field": "probability", "format": ".1%"}},
            },
        ],
    }
    st.vega_lite_chart(rows, spec, width="stretch", key=key)


def familiarity_of(model_name: str, predictions: list[Prediction]):
    """How one image's top prediction compares with the model's usual confidence and, where the model has a feature
    calibration (a core.classify.Ranking carries it), how far the image lies from the pictures it learned from
    (core.familiarity)."""
    from core.familiarity import assess_predictions
    from dashboard import state

    return assess_predictions(predictions, state.get_model(model_name).spec)


def verdict(predictions: list[Prediction], model_name: str, *, named: bool = False, note: bool = True):
    """The top class and its probability (after the model's name where `named`), then, where `note`, one
    sentence on whether the model is as sure as usual and the image like those it learned from
    (`confidence_note`); returns the Familiarity, for pages that put the sentence elsewhere. The prediction stays
    on show either way."""
    top = predictions[0]
    familiarity = familiarity_of(model_name, predictions)
    st.markdown(
        (f"**{model_name}**: {top.label}" if named else f"**{top.label}**")
        + f" · {probability_text(top.probability)}"
        + ("" if familiarity.familiar else f" · {familiarity.label}"),
        help=familiarity.detail(),
    )
    if note:
        confidence_note(model_name, familiarity)
    return familiarity


def confidence_note(model_name: str, familiarity) -> None:
    """The familiarity sentence: a caption when the image is familiar to the model, a warning when it is not."""
    if familiarity.familiar:
        st.caption(familiarity.sentence(model_name))
    else:
        st.warning(familiarity.sentence(model_name))


def explanation_controls(methods: list[str], key: str) -> tuple[str, dict]:
    """Method picker and its parameters; returns (method name, parameters)."""
    from core.explain import METHODS

    if len(methods) > 5:  # a segmented control this long would run off the page
        method = st.selectbox(
            "Method", methods, format_func=lambda m: METHODS[m].title, key=f"{key}_method", persist_state="session"
        )
    else:
        method = (
            st.segmented_control(
                "Method",
                methods,
                format_func=lambda m: METHODS[m].title,
                key=f"{key}_method",
                persist_state="session",
                default=methods[0],
                selection_mode="single",
                wrap=True,  # in a column it would otherwise scroll sideways and hide the last methods
            )
            or methods[0]
        )
    params = {}
    with st.expander("Parameters", expanded=False):
        for parameter in METHODS[method].parameters:
            widget, arguments = parameter_widget(parameter)
            value = getattr(st, widget)(**arguments, key=f"{key}_{method}_{parameter.name}", persist_state="session")
            params[parameter.name] = parameter_value(parameter, value)
    st.caption(METHODS[method].caption)
    return method, params


def parameter_widget(parameter: Parameter) -> tuple[str, dict]:
    """The Streamlit widget of one method parameter, from its registry description: the widget function's
    name and its keyword arguments (all but the key)."""
    common = {"label": parameter.label, "help": f"{parameter.help} Allowed: {parameter.allowed}."}
    if parameter.choices:
        return "selectbox", {
            **common,
            "options": parameter.choices,
            "index": parameter.choices.index(parameter.default),
        }
    if parameter.unset:
        label = f"{parameter.label} (empty: {parameter.unset})"
        return "text_input", {**common, "label": label, "value": parameter.default or ""}
    if parameter.type is bool:
        return "checkbox", {**common, "value": parameter.default}
    if parameter.type in (int, float):
        kind = parameter.type  # Streamlit wants the bounds, value and step all of one type
        bounds = {
            "min_value": None if parameter.minimum is None else kind(parameter.minimum),
            "max_value": None if parameter.maximum is None else kind(parameter.maximum),
        }
        step = max(1, parameter.default // 4) if kind is int else 0.05
        return "number_input", {**common, **bounds, "value": parameter.default, "step": step}
    return "text_input", {**common, "value": parameter.default}


def parameter_value(parameter: Parameter, value):
    """A widget's value as the parameter's type: an empty text box is None where the parameter may be unset."""
    if parameter.unset and not value:
        return None
    return value if parameter.choices else parameter.type(value)


def target_control(labels: list[str], key: str) -> str | None:
    """'Predicted class' (None) or a class label to explain."""
    choice = st.selectbox(
        "Explain the class",
        ["Predicted class", *labels],
        key=key,
        persist_state="session",
        help="Predicted class: each model explains its own prediction. A class: every model explains that class "
        "(a model without it explains its prediction).",
    )
    return None if choice == "Predicted class" else choice


UNSIGNED_COLOURMAPS = ("plasma", "inferno", "viridis", "jet", "gray")


def colour_controls(
    key: str,
    method: str,
    shared_scale: str = SHARED,
    scale: tuple[str, str] = ("Per map", "Shared"),
    scale_help: str = "Per map: each map's strongest evidence gets full colour, so every map is readable. Shared: one "
    "scale for every image and model, so strengths compare like for like.",
) -> tuple[str | None, float, str]:
    """Colour map (unsigned methods only), opacity and colour scale, with the colour bar and which scale is in use.
    Returns (colour map, opacity, scale): PER_MAP by default, or `shared_scale` when the second of the labels
    `scale` is picked."""
    from core.explain import METHODS

    chosen = METHODS[method]
    columns = st.columns(3)
    colourmap = chosen.colourmap
    if not chosen.signed:
        default = chosen.colourmap or UNSIGNED_COLOURMAP
        options = [default, *(name for name in UNSIGNED_COLOURMAPS if name != default)]
        colourmap = columns[0].selectbox("Colour map", options, key=f"{key}_cmap", persist_state="session")
    with columns[0]:
        colour_key(method, colourmap)
    opacity = columns[1].slider("Overlay opacity", 0.0, 1.0, 0.65, 0.05, key=f"{key}_opacity", persist_state="session")
    picked = columns[2].radio(
        "Colour scale", scale, horizontal=True, key=f"{key}_scale", help=scale_help, persist_state="session"
    )
    policy = shared_scale if picked == scale[1] else PER_MAP
    columns[2].caption(scale_sentence(policy))
    return colourmap, opacity, policy


def colour_key(method: str, colourmap: str | None = None, *, words: bool = True) -> None:
    """The overlay's colour bar, drawn by the overlay itself, with what its colours mean (`words`)."""
    from core.explain import METHODS
    from dashboard import state

    chosen = METHODS[method]
    bar = state.colour_bar_picture(chosen.signed, colourmap or chosen.colourmap, chosen.overlay_exponent)
    st.image(bar, width="stretch", output_format="PNG", caption=f"Colours: {chosen.legend}" if words else None)


def blank_note(container, method: str, raw, target_label: str) -> None:
    """One sentence in `container` where the map is zero everywhere: why nothing is coloured, and what to try."""
    from core.explain import METHODS

    if is_blank(raw):
        container.info(METHODS[method].blank_sentence(target_label))


def growing_picture(side: int):
    """A `draw` for dashboard.waiting.watched while a class model is drawn: the picture so far (every 10 steps),
    enlarged to `side` pixels, with its step, score and time."""
    from core.inside.pictures import enlarged

    shown = {}  # the step last drawn: the picture is redrawn only when 10 more steps are done

    def draw(progress, place) -> None:
        latest = getattr(progress, "latest", None)
        if latest is not None and shown.get("step") != latest.step:
            shown["step"] = latest.step
            with place.container():
                st.image(enlarged(latest.pixels[0], side), width="content")
                st.caption(f"step {latest.step} of {latest.steps} · score {latest.objective[0]:.2f} · "
                           f"{latest.seconds:.1f} s")  # fmt: skip

    return draw


def load_models(models: list[str]) -> None:
    """Loads the models not loaded yet, one by one, each under a spinner that names it (a first visit after the
    server started; other models are being loaded in the background meanwhile)."""
    from dashboard import state

    for name in models:
        if not state.is_loaded(name):
            with st.spinner(f"Loading {name}… (once after the server starts)", show_time=True):
                state.get_model(name)


def run_explanations(
    images, models: list[str], method: str, params: dict, target_label: str | None, ask_first_above: float | None = None
) -> dict | None:
    """Every (model, image) explanation, cached; while they run, a progress bar saying which image, model and
    method, and a Stop button (dashboard/waiting.py). When the estimated time of what is not cached yet exceeds
    `ask_first_above` seconds, shows the cost and waits for a click. None while waiting for a click or stopped."""
    from core.explain import METHODS
    from core.progress import Progress, Stopped
    from dashboard import state, waiting

    chosen = METHODS[method]
    params_key = tuple(sorted(params.items()))
    done = st.session_state.setdefault("computed_explanations", set())
    jobs = []
    for name in models:
        labels = state.get_model(name).spec.labels
        target = labels.index(target_label) if target_label in labels else None
        for row, selected in enumerate(images):
            key = state.explanation_key(name, selected.image.sha256, method, target, params_key)
            jobs.append((name, row, selected.image, target, key))
    pending = [job for job in jobs if job[4] not in done]
    request = ("explanations", tuple(job[4] for job in jobs))  # what a Stop stops, until it is run again
    notice = st.empty()  # the cost and the button go away once the work is done
    if pending and waiting.was_stopped(request):
        _stopped_note(notice, request, method, len(pending))
        return None
    if pending and ask_first_above is not None:
        seconds = sum(state.estimated_seconds(name, method, params, 1) for name, *_ in pending)
        # The model runs the user's parameters ask for (num_samples, steps…); the time counts backward passes.
        runs = chosen.evaluations(params)
        ask = seconds > ask_first_above
        cost = (
            f"{len(pending)} explanation{'s' if len(pending) > 1 else ''} to compute: {runs} model passes each, about "
            f"{_duration(seconds)} on this machine. Results are kept, so this is paid once per image and setting."
        )
        if ask and not waiting.was_asked(request):
            with notice.container():
                st.info(cost)
                if not st.button(f"Run {chosen.title}", type="primary", key=f"run_{method}"):
                    return None
            waiting.ask_to_run(request)  # a click elsewhere while it computes does not bring the button back
        if seconds > 2 or ask:
            notice.info(cost)  # while it computes: the cost without the button
    status = st.empty()
    if pending:
        waiting.stop_other_work({job[4] for job in pending})  # what the user asked for before this, if still running
        with status.container(horizontal=True, vertical_alignment="center", key=f"explaining_{method}"):
            bar = st.progress(0.0, text=f"Explaining with {chosen.title}…")
            waiting.stop_button(request, key=f"stop_{method}")
    computed = {}
    try:
        for index, (name, _, image, target, key) in enumerate(pending):

            def work(progress, name=name, image=image, target=target):
                return state.explanation(name, image.sha256, image, method, target, params_key, progress)

            def show(progress, index=index, name=name, image=image):
                share = (index + progress.fraction) / len(pending)
                count = f" · {index + 1} of {len(pending)}" if len(pending) > 1 else ""
                bar.progress(share, text=f"Explaining {image.name} with {name} ({chosen.title}): "
                             f"{progress.fraction:.0%}{count}")  # fmt: skip

            doing = f"Explaining {image.name} with {name} ({chosen.title})"
            computed[key] = waiting.run(key, work, Progress(doing), show, request)
            done.add(key)
    except Stopped:  # stopped from elsewhere in this session while this run watched it
        status.empty()
        _stopped_note(notice, request, method, len(pending))
        return None
    results = {
        (name, row): computed[key]
        if key in computed
        else state.explanation(name, image.sha256, image, method, target, params_key)  # computed before: cached
        for name, row, image, target, key in jobs
    }
    status.empty()
    notice.empty()
    return results


def _stopped_note(notice, request, method: str, count: int) -> None:
    """What a Stop left: which explanations were not computed, that nothing partial was kept, and a button to run
    them again."""
    from core.explain import METHODS
    from dashboard import waiting

    title = METHODS[method].title
    with notice.container():
        st.info(
            f"Stopped: {count} {title} explanation{'s were' if count > 1 else ' was'} not computed, and nothing half "
            "done was kept. Change a setting, or run it again."
        )
        st.button("Run again", key=f"run_again_{method}", type="primary", on_click=waiting.ask_to_run, args=(request,))


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def explanation_rows(
    images,
    models: list[str],
    results: dict,
    method: str,
    *,
    colourmap: str | None,
    opacity: float,
    scale: str = PER_MAP,
    show_raw: bool = True,
    transform=None,
    below: bool = False,
) -> dict:
    """One bordered row per image: for each model, the overlay (and the raw map) with its target and time, on the
    colour scale `scale`; `transform` changes what is drawn (e.g. only LIME's strongest regions), not the cached
    result. Pictures are drawn once and kept (dashboard.state), so a rerun over the same maps draws nothing.
    With `below`, returns {(model, row): an empty column under that model's map} for what goes beside it (the
    trust checks), filled later in the run; else {}."""
    from core.explain import METHODS, diagnostic_in_words
    from dashboard import state

    chosen = METHODS[method]
    signed = chosen.signed
    maps = {key: (transform(result.map) if transform else result.map) for key, result in results.items()}
    digests = {key: state.map_digest(raw) for key, raw in maps.items()}
    limits = state.limits_of(maps, digests, signed, scale)
    slots = {}
    for row, selected in enumerate(images):
        with st.container(border=True, key=row_key(selected.image)):
            st.markdown(image_heading(selected))
            columns = st.columns(len(models) * (2 if show_raw else 1))
            for index, name in enumerate(models):
                result, raw, digest = results[(name, row)], maps[(name, row)], digests[(name, row)]
                limit = limits[(name, row)]
                picture = state.overlay_picture(
                    selected.image,
                    raw,
                    digest,
                    limit,
                    signed,
                    opacity=opacity,
                    colourmap=colourmap,
                    exponent=chosen.overlay_exponent,
                )
                own = None if scale == PER_MAP else state.own_limit(raw, digest, signed)
                caption = limit_caption(raw, limit, signed, scale, own)
                column = columns[index * (2 if show_raw else 1)]
                column.image(
                    picture,
                    width="stretch",
                    output_format="JPEG",
                    caption=f"{name} · explaining “{result.target_label}” · {result.seconds:.2f} s"
                    # Without the raw map beside it, the overlay says which scale it is on (and how faint it is).
                    + ("" if show_raw else f" · {caption}"),
                )
                blank_note(column, method, raw, result.target_label)
                for key, value in result.diagnostics.items():
                    reading, detail = diagnostic_in_words(key, value)
                    column.caption(reading, help=detail or None)
                if show_raw:
                    columns[index * 2 + 1].image(
                        state.raw_picture(raw, digest, limit, signed, colourmap),
                        width="stretch",
                        output_format="PNG",
                        caption=f"raw map, {raw.shape[1]}×{raw.shape[0]}, {caption}",
                    )
            if below:
                for name, column in zip(models, st.columns(len(models), gap="medium"), strict=True):
                    slots[(name, row)] = column.container(key=f"{row_key(selected.image)}_below_{models.index(name)}")
    return slots


def explanations_or_error(
    images, models: list[str], method: str, params: dict, target_label: str | None, ask_first_above: float
) -> dict | None:
    """run_explanations with a bad parameter or model shown as one sentence instead of a traceback."""
    from core.errors import UserError

    try:
        return run_explanations(images, models, method, params, target_label, ask_first_above)
    except (UserError, ValueError) as error:
        st.error(str(error))
        return None


@dataclass(frozen=True)
class Download:
    """One download button: `data` is bytes, text, or a function that makes them, called only when clicked."""

    label: str
    data: object
    file_name: str
    mime: str
    icon: str
    key: str


def download_row(key: str, downloads: list[Download]) -> None:
    """Download buttons in a row that takes each button's own width and wraps (fixed columns cut labels short on
    narrow windows); the first is the primary one."""
    row = st.container(horizontal=True, key=key)
    for index, download in enumerate(downloads):
        row.download_button(download.label, download.data, file_name=download.file_name, mime=download.mime,
                            type="primary" if index == 0 else "secondary", icon=download.icon, key=download.key,
                            on_click="ignore")  # fmt: skip


def report_downloads(
    comparison, *, shared: bool, opacity: float = OPACITY, stem: str = "explanation-report", html: str | None = None
) -> None:
    """The report (HTML, `html` where it is drawn already) and its numbers (CSV, JSON) as download buttons; each
    file is made only when clicked."""
    from core.report import render_report

    report = html if html is not None else lambda: render_report(comparison, shared=shared, opacity=opacity)
    download_row(f"{stem}_downloads", [
        Download("Download report", report, f"{stem}.html", "text/html", ":material/description:", f"{stem}_html"),
        Download("Numbers (CSV)", comparison.as_csv, f"{stem}.csv", "text/csv", ":material/table:", f"{stem}_csv"),
        Download("Numbers (JSON)", comparison.as_json, f"{stem}.json", "application/json",
                 ":material/data_object:", f"{stem}_json"),
    ])  # fmt: skip
