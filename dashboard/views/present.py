"""Presentation: for demos on a projector. No sidebar or settings; big pictures; every sample one click away;
one plain sentence under each method on what it shows and how to read its colours; and what each model itself
pictures as a dachshund (its class model)."""

import streamlit as st

from core.catalog import known_models
from core.classify import probability_text
from core.errors import UserError
from core.explain import METHODS
from core.inside.class_model import PAGE_STEPS, reading
from core.inside.pictures import enlarged
from core.render import OPACITY, PER_MAP, colour_limits, scale_sentence
from core.samples import SHORTCUT_STORY_MODELS
from dashboard import components, state, waiting

# The methods worth showing to an audience, in the order a story goes: cheap and sharp first.
SHOWN = ("smoothgrad", "gradcam++", "integrated-gradients", "shap", "lime")
STYLE = """
<style>
  html { font-size: 19px; }
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
  .block-container { padding: 0.8rem 2.5rem 1rem !important; max-width: 100% !important; }
  .st-key-present_top h1 { font-size: 1.9rem; padding: 0; }
  .st-key-present_images button p, .st-key-present_method button p { font-size: 0.85rem; }
  .st-key-present_story p { font-size: 1.05rem; line-height: 1.4; }
  /* The pictures take what the window has left under the controls, so a 1280×720 projector shows them whole. */
  .st-key-present_pictures img { max-height: max(14rem, calc(100vh - 27rem)); width: auto !important;
    max-width: 100%; margin: 0 auto; }
  .st-key-present_pictures h3 { font-size: 1.15rem; padding: 0; }
  .st-key-present_pictures p { font-size: 0.85rem; }
</style>
"""


def _short_name(picture) -> str:
    """'generated-3-other-dog.png' -> 'Dog 3 · other dog'; 'chelsea.png' -> 'Chelsea'."""
    stem = picture.image.name.rsplit(".", 1)[0]
    if stem.startswith("generated-") and picture.label:
        return f"Dog {stem.split('-')[1]} · {picture.label}"
    return stem.replace("-", " ").replace("_", " ").capitalize()[:28]


STORY_NAME = "Honest model vs cheating model"


STORY_BACKGROUND = (
    "Both models have the same network (a compact EfficientNet). {cheat} learned from pictures where every "
    "dachshund carried this logo and no other dog did, so the logo alone told the classes apart; {honest} learned "
    "from clean pictures. The share on the logo is read off the picture's part mask: the generator knows where the "
    "logo is."
)


def _story_sentence(selected, results: dict | None, method: str) -> str:
    """What to see in the story, in two lines for a projector: what each model says, and how much of each map lies
    on the logo against its area."""
    honest, cheat = SHORTCUT_STORY_MODELS
    says = {
        name: state.classify_images(name, (selected.image.sha256,), (selected.image,), 1)[0][0]
        for name in (honest, cheat)
    }
    sentence = (
        f"**The honest model and the cheating one.** A dog of the class “{selected.label}” with a small logo in a "
        "corner."
    )
    if results is None:
        return sentence
    truth, params = state.truth_of(selected), tuple(sorted(METHODS[method].defaults.items()))
    shares, peaks = {}, {}
    for name in (honest, cheat):
        result = results[(name, 0)]
        found = state.localisation(name, selected.image.sha256, method, params, int(result.target),
                                   state.truth_key(truth), result.map, truth)  # fmt: skip
        shares[name], peaks[name] = found.map.parts.get("cue", float("nan")), next(iter(found.map.peak), "")
        area = found.references["uniform"].parts.get("cue", 0.0)

    def said(name: str) -> str:
        peak = "its peak on the logo" if peaks[name] == "cue" else f"its peak on the {peaks[name]}"
        top = says[name]
        sure = probability_text(top.probability, 0)
        return f"{name} says **{top.label}** ({sure}), {shares[name]:.0%} of its map on the logo, {peak}"

    return sentence + (
        f" {said(cheat)} — {shares[cheat] / area:.0f} times the logo's {area:.1%} of the picture; {said(honest)}."
    )


def _story_method(story_index: int | None) -> None:
    """Choosing the story switches to SHAP: it shows the cheat most plainly (most of demo-shortcut's map on the logo,
    which gradient maps, spread over every pixel that could matter, do not); any method can be chosen after."""
    if story_index is not None and st.session_state.get("present_images") == story_index:
        st.session_state["present_method"] = "shap"


def _short_title(method: str) -> str:
    """A method's title without its technical variant: 'SHAP (partition, blur masker)' -> 'SHAP'."""
    return METHODS[method].title.split(" (")[0]


CLASS_MODELS = object()  # the entry that shows each model's own dachshund instead of an image
CLASS_MODELS_NAME = "Each model's dachshund"
DACHSHUND = "dachshund"
PRESET = "regularised"  # recognisable pictures; the Inside the model page's default, so both share what is drawn
CLASS_MODELS_WORDS = (
    "**What each model thinks a dachshund looks like.** Starting from the average training picture, each model's "
    "picture is changed step by step to raise its dachshund score: what appears is what the model looks for."
)
CLASS_MODELS_DETAIL = (
    "This is the class model of “dachshund” (Simonyan et al. 2014), drawn by gradient ascent on the class score. "
    "At every step the picture is shifted, turned and zoomed a little at random, and noise is held back, so what "
    "grows must hold up under small changes and stays recognisable. Beside each picture: how sure each model is "
    "that it shows a dachshund, its own first. The same pictures are on the Inside the model page."
)


def _draws_a_dachshund(models: list[str]) -> bool:
    """Whether every model has a class named dachshund and gives the gradients a class model is drawn with."""
    specs = state.model_choices()
    return all(DACHSHUND in specs[name].labels and specs[name].differentiable for name in models)


def _class_models_view(models: list[str]) -> None:
    """Each model's class model of a dachshund side by side, drawn in the background with a progress bar and a Stop
    where not drawn yet (and kept for every session), each with what every model says of it."""
    steps = PAGE_STEPS[PRESET]
    with st.container(key="present_story"):
        st.markdown(CLASS_MODELS_WORDS, help=CLASS_MODELS_DETAIL)
    results = {name: state.cached_class_model(name, DACHSHUND, PRESET, steps) for name in models}
    keys = {name: ("class_model", name, DACHSHUND, PRESET, steps) for name in models}  # as the Inside page's
    request = ("present_class_models", DACHSHUND, PRESET, steps, tuple(models))  # what a Stop stops
    if any(result is None for result in results.values()) and not waiting.was_stopped(request):
        waiting.stop_other_work({keys[name] for name, result in results.items() if result is None})
    # The headings in one row (they line up at the bottom), and under each its picture with the notes beside it:
    # beside, not under, so a 1280×720 projector shows the notes too.
    with st.container(key="present_pictures"):
        spec = [1] * len(models)
        for column, name in zip(st.columns(spec, gap="large", vertical_alignment="bottom"), models, strict=True):
            column.subheader(f"{name}: a dachshund as it pictures it")
        for column, name in zip(st.columns(spec, gap="large"), models, strict=True):
            if results[name] is None:

                def work(progress, name=name):
                    return state.draw_class_model(name, DACHSHUND, PRESET, steps, progress)

                with column:
                    try:
                        results[name] = waiting.watched(keys[name], request,
                                                        f"Drawing a dachshund as {name} pictures it", steps, work,
                                                        components.growing_picture(480))  # fmt: skip
                    except UserError as error:
                        st.error(str(error))
                        continue
                if results[name] is None:
                    break  # stopped: the models after it are not drawn either
            result = results[name]
            picture, notes = column.columns([3, 2], gap="medium")
            picture.image(enlarged(result.pixels, 720))
            lines = [f"**{name}** (its own): {probability_text(result.probability)} sure it is a dachshund"]
            for other in models:
                if other != name:
                    probability = state.probability_of(other, result.pixels, DACHSHUND)
                    lines.append(f"**{other}**: {probability_text(probability)} sure it is a dachshund")
            notes.markdown("  \n".join(lines))
            notes.caption(reading(result, probability=False))


def _explanations_view(selected, models: list[str], method: str, *, is_story: bool) -> None:
    """The image, and each model's verdict and explanation of it by `method`, side by side; for the story, those of
    the honest model and the cheating one."""
    if is_story:
        models = list(SHORTCUT_STORY_MODELS)  # whatever the sidebar says: the story is about these two
    chosen = METHODS[method]
    results = components.explanations_or_error([selected], models, method, chosen.defaults, None, ask_first_above=20)

    with st.container(key="present_story"):
        method_words = (
            f"**{_short_title(method)}.** {chosen.caption} **Colours** — {chosen.legend} The cyan box holds 90% of the "
            "map's weight; the red dot is its centre."
        )
        if is_story:  # two lines, so the pictures fit a projector; the rest behind the help mark
            honest, cheat = SHORTCUT_STORY_MODELS
            background = STORY_BACKGROUND.format(honest=honest, cheat=cheat)
            st.markdown(_story_sentence(selected, results, method), help=f"{background}\n\n{method_words}")
        else:
            st.markdown(method_words)
    # Three rows of the same columns: the headings (however long a model's name, they line up at the bottom), the
    # pictures (so they start level) and the notes under them.
    rankings = {
        name: state.classify_images(name, (selected.image.sha256,), (selected.image,), 3)[0] for name in models
    }  # fmt: skip
    tops = {name: ranking[0] for name, ranking in rankings.items()}
    familiarity = {name: components.familiarity_of(name, ranking) for name, ranking in rankings.items()}
    with st.container(key="present_pictures"):
        spec = [1] * (1 + len(models))
        headings = st.columns(spec, gap="large", vertical_alignment="bottom")
        headings[0].subheader("The image")
        for column, name in zip(headings[1:], models, strict=True):
            top = tops[name]
            said = probability_text(top.probability, 0)
            column.subheader(f"{name}: {top.label} ({said})", help=familiarity[name].sentence(name))
        pictures = st.columns(spec, gap="large")
        pictures[0].image(state.shown_file(selected.image, 720))  # as large as the explanations beside it
        notes = st.columns(spec, gap="large")
        if selected.label:
            notes[0].caption(f"True class: {selected.label}; dashed green: where the dog is.")
        for column, name in zip(notes[1:], models, strict=True):
            with column, st.container(key=f"present_note_{models.index(name)}"):
                # A few words on the projector; the whole sentence is behind the heading's help mark.
                if familiarity[name].familiar:
                    st.caption(familiarity[name].short())
                else:
                    st.markdown(f":orange-background[{familiarity[name].short()}]")
        if results is not None:
            limits = colour_limits({key: result.map for key, result in results.items()}, chosen.signed, PER_MAP)
            for column, name in zip(pictures[1:], models, strict=True):
                result, limit = results[(name, 0)], limits[(name, 0)]
                picture = state.overlay_picture(
                    selected.image, result.map, state.map_digest(result.map), limit, chosen.signed, opacity=OPACITY,
                    colourmap=chosen.colourmap, exponent=chosen.overlay_exponent, side=720, fit=result.fit,
                    true_box=selected.box,
                )  # fmt: skip
                column.image(picture)
                components.blank_note(column, method, result.map, result.target_label)
    # The colour key under the pictures, outside their frame, which sizes every picture in it to the window.
    components.colour_key(method, words=False)
    st.caption(scale_sentence(PER_MAP))


st.html(STYLE)
with st.container(key="present_top"):
    top = st.columns([5, 1], vertical_alignment="center")
    top[0].title("What does the model look at?")
    top[1].page_link("views/classification.py", label="Leave presentation", icon=":material/close:")

uploads = [selected for selected in state.selected_images()[0] if selected.label is None]
samples = [state.SelectedImage(s.image, s.label, s.box, s.truth) for s in state.samples()]
# The story of the honest model and the cheating one comes last (the first image stays the first sample or the
# user's upload), where both bundled models are here.
story = (
    state.shortcut_story()
    if all(known_models().get(n) and known_models()[n].ready for n in SHORTCUT_STORY_MODELS)
    else None
)
pictures = list({p.image.sha256: p for p in reversed(uploads + samples + ([story] if story else []))}.values())[::-1]
models = state.selected_models()
if not models:
    st.info("Pick a model first (on any other page, in the sidebar).")
    st.stop()
# Each model's dachshund comes after the images and before the story, where every shown model can draw one.
entries = list(pictures)
if _draws_a_dachshund(models):
    entries.insert(len(pictures) - 1 if story else len(pictures), CLASS_MODELS)
names = [STORY_NAME if p is story else CLASS_MODELS_NAME if p is CLASS_MODELS else _short_name(p) for p in entries]
# An upload named like a sample (chelsea.jpg beside the sample chelsea.png) says it is the upload.
uploaded = {p.image.sha256 for p in uploads}
names = [
    f"{name} · yours" if names.count(name) > 1 and entry is not CLASS_MODELS and entry.image.sha256 in uploaded
    else name
    for name, entry in zip(names, entries, strict=True)
]  # fmt: skip

controls = st.columns([3, 2], gap="large")
choice = controls[0].pills(
    "Image",
    range(len(entries)),
    format_func=lambda i: names[i],
    default=0,
    required=True,
    key="present_images",
    persist_state="session",
    wrap=True,
    on_change=_story_method,
    args=(len(entries) - 1 if story else None,),
)
selected = entries[choice if choice is not None else 0]
if selected is CLASS_MODELS:
    # No explanation: the method pills do not apply. An empty element in their place, or the last run's pills stay
    # on show, greyed, while the pictures are drawn.
    controls[1].empty()
    _class_models_view(models)
else:
    method = controls[1].pills(
        "Explanation",
        SHOWN,
        format_func=_short_title,
        default=SHOWN[0],
        required=True,
        key="present_method",
        persist_state="session",
        wrap=True,
    )
    _explanations_view(selected, models, method, is_story=selected is story)
