"""Method grid: one model and one image, every explanation method side by side."""

import streamlit as st

from core.explain import METHODS
from core.render import OPACITY, PER_MAP, SHARED, colour_limits, limit_caption, scale_sentence
from dashboard import components, state, trust_panels
from dashboard.views.common import images_and_models

st.title("Method grid")
st.caption("One image through one model, explained by every method: where do the methods agree?")

images, models = images_and_models()
controls = st.columns([2, 2, 2])
model = controls[0].selectbox("Model", models, key="grid_model", persist_state="session")
row = controls[1].selectbox(
    "Image", range(len(images)), format_func=lambda i: images[i].image.name, key="grid_image", persist_state="session"
)  # fmt: skip
slow = controls[2].toggle(
    "Include SHAP and LIME",
    value=False,
    key="grid_slow",
    persist_state="session",
    help="They need hundreds of model passes each; their cost is shown before they run.",
)
shared = (
    st.radio(
        "Colour scale",
        ["Per method", "Shared"],
        horizontal=True,
        key="grid_scale",
        persist_state="session",
        help="Per method: each map's strongest evidence gets full colour. Shared: one scale for the unsigned maps and "
        "one for the signed ones; gradients share units, Grad-CAM and LIME do not, so mostly per method reads best.",
    )
    == "Shared"
)
scale = SHARED if shared else PER_MAP
st.caption(
    "Colour scale: one for the unsigned maps and one for the signed ones, so a fainter map of the same kind has "
    "weaker evidence."
    if shared
    else scale_sentence(PER_MAP)
)
st.caption("Every method with its default parameters; change them on the method's own page.")

selected = images[min(row or 0, len(images) - 1)]
gradients = state.get_model(model).differentiable
if not gradients:
    st.info(f"{model} gives no gradients (a TensorFlow Lite or SavedModel file): only SHAP and LIME can explain it.")
    slow = True
methods = [name for name, m in METHODS.items() if (slow or m.needs_gradients) and (gradients or not m.needs_gradients)]

results, pending = {}, []
for method in methods:
    if METHODS[method].needs_gradients:  # cheap: run at once
        found = components.explanations_or_error([selected], [model], method, METHODS[method].defaults, None, None)
        if found is not None:
            results[method] = found[(model, 0)]
    else:  # SHAP and LIME show their cost in their cell and wait for a click
        pending.append(method)

# Colour limits by (method, image): on this one image, a shared scale is one for the unsigned maps and one
# for the signed ones.
limits = {}
for signed in (False, True):
    same_kind = {(name, 0): result.map for name, result in results.items() if METHODS[name].signed == signed}
    limits |= colour_limits(same_kind, signed, scale)

predictions = state.classify_images(model, (selected.image.sha256,), (selected.image,), 3)[0]
st.markdown(components.image_heading(selected))
components.verdict(predictions, model, named=True)
# Row by row, so every row starts level however long the captions above it are.
ROW = 4
columns = [column for _ in range(0, len(methods), ROW) for column in st.columns(ROW)]
for method, column in zip(methods, columns, strict=False):
    with column, st.container(key=f"grid_cell_{method.replace('+', 'p')}"):
        chosen = METHODS[method]
        st.markdown(f"**{chosen.title}**")
        if method in pending:
            found = components.explanations_or_error([selected], [model], method, chosen.defaults, None, 0)
            if found is None:
                continue
            results[method] = found[(model, 0)]
            limits |= colour_limits({(method, 0): results[method].map}, chosen.signed, PER_MAP)
        result = results.get(method)
        if result is None:
            continue
        limit = limits[(method, 0)]
        picture = state.overlay_picture(
            selected.image, result.map, state.map_digest(result.map), limit, chosen.signed, opacity=OPACITY,
            colourmap=chosen.colourmap, exponent=chosen.overlay_exponent, side=480, fit=result.fit,
            true_box=selected.box,
        )  # fmt: skip
        # SHAP and LIME, computed on a click, are each on their own scale.
        cell_scale = scale if chosen.needs_gradients else PER_MAP
        caption = f"{result.seconds:.2f} s · {limit_caption(result.map, limit, chosen.signed, cell_scale)}"
        st.image(picture, width="stretch", caption=caption)
        components.blank_note(st, method, result.map, result.target_label)
        components.colour_key(method, words=False)
        st.caption(f"{chosen.caption} Colours: {chosen.legend}")

# Which of these maps can be trusted: one table, a row per method, on request.
trust = trust_panels.trust_controls("grid")
if trust is not None and results:
    items = [(model, 0, selected, result, method, METHODS[method].defaults, {}) for method, result in results.items()]
    checks = trust_panels.run_trust_items(items, trust, key="grid")
    if checks:
        st.html(trust_panels.STYLE)
        with st.container(key="grid_trust_faithfulness"):
            by_title = {METHODS[method].title: checks[(model, 0, method)] for method in results}
            st.markdown(trust_panels.methods_table(by_title), help=trust_panels.substrate_sentence_of(by_title))
            st.caption(
                "Bold: this method's map; in brackets its references. A map is better than chance where its deletion "
                "AUC is lower and its insertion AUC, energy and IoU higher than the references'. Each method's own "
                "sentences are on the Saliency page."
            )
