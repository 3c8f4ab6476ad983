"""Presentation: for demos on a projector. No sidebar or settings; big pictures; every sample one click away;
one plain sentence under each method on what it shows and how to read its colours."""

import streamlit as st

from core.explain import METHODS
from core.render import PER_MAP, colour_limits, explanation_picture, scale_sentence
from dashboard import components, state

# The methods worth showing to an audience, in the order a story goes: cheap and sharp first.
SHOWN = ("smoothgrad", "gradcam++", "integrated-gradients", "shap", "lime")
STYLE = """
<style>
  html { font-size: 19px; }
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
  .block-container { padding: 1.2rem 2.5rem 2rem !important; max-width: 100% !important; }
  .st-key-present_images p, .st-key-present_method p { font-size: 1.05rem; }
  .st-key-present_story p { font-size: 1.15rem; line-height: 1.45; }
  .st-key-present_pictures img { max-height: 56vh; width: auto !important; max-width: 100%; margin: 0 auto; }
  .st-key-present_pictures h3 { font-size: 1.3rem; padding-bottom: 0.2rem; }
</style>
"""


def _short_name(picture) -> str:
    """'generated-3-other-dog.png' -> 'Dog 3 · other dog'; 'chelsea.png' -> 'Chelsea'."""
    stem = picture.image.name.rsplit(".", 1)[0]
    if stem.startswith("generated-") and picture.label:
        return f"Dog {stem.split('-')[1]} · {picture.label}"
    return stem.replace("-", " ").replace("_", " ").capitalize()[:28]


st.html(STYLE)
top = st.columns([5, 1])
top[0].title("What does the model look at?")
top[1].page_link("views/classification.py", label="Leave presentation", icon=":material/close:")

pictures = [selected for selected in state.selected_images()[0] if selected.label is None]  # uploads
pictures += [state.SelectedImage(s.image, s.label, s.box) for s in state.samples()]
pictures = list({p.image.sha256: p for p in reversed(pictures)}.values())[::-1]
names = [_short_name(p) for p in pictures]
models = state.selected_models()
if not models:
    st.info("Pick a model first (on any other page, in the sidebar).")
    st.stop()

choice = st.pills(
    "Image", range(len(pictures)), format_func=lambda i: names[i], default=0, required=True, key="present_images"
)
method = st.pills(
    "Explanation",
    SHOWN,
    format_func=lambda m: METHODS[m].title,
    default=SHOWN[0],
    required=True,
    key="present_method",
)
selected = pictures[choice if choice is not None else 0]
chosen = METHODS[method]
results = components.explanations_or_error([selected], models, method, chosen.defaults, None, ask_first_above=20)

with st.container(key="present_story"):
    st.markdown(
        f"**{chosen.title}.** {chosen.caption} **Colours** — {chosen.legend} The cyan box holds 90% of the "
        "map's weight; the red dot is its centre."
    )
with st.container(key="present_pictures"):
    columns = st.columns(1 + len(models), gap="large")
    with columns[0]:
        st.subheader("The image")
        st.image(selected.image.pixels)
        if selected.label:
            st.caption(f"True class: {selected.label}; dashed green: where the dog is.")
        components.colour_key(method, words=False)
        st.caption(scale_sentence(PER_MAP))
    if results is not None:
        limits = colour_limits({key: result.map for key, result in results.items()}, chosen.signed, PER_MAP)
        for column, name in zip(columns[1:], models, strict=True):
            result, limit = results[(name, 0)], limits[(name, 0)]
            top = state.classify_images(name, (selected.image.sha256,), (selected.image,), 3)[0][0]
            with column:
                st.subheader(f"{name}: {top.label} ({top.probability:.0%})")
                picture = explanation_picture(
                    selected.image.pixels, result.map, result.fit, limit, chosen.signed,
                    colourmap=chosen.colourmap, exponent=chosen.overlay_exponent, side=720, true_box=selected.box,
                )  # fmt: skip
                st.image(picture)
                components.blank_note(st, method, result.map, result.target_label)
