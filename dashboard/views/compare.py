"""Compare models: model A and model B explaining the same images with the same method, on one colour
scale, with how much they agree."""

import pandas as pd
import streamlit as st

from core.agreement import SCORES, agreeing_share, mean_agreement
from core.explain import METHODS
from core.images import encode_png
from core.render import PER_IMAGE, PER_MAP, limit_caption
from dashboard import components, state, trust_panels
from dashboard.views.common import all_labels, comparison, file_stem, images_and_models

st.title("Compare models")
st.caption("Does one model look at the same thing as the other? The same images, method and parameters for both.")

images, models = images_and_models()
if len(models) < 2:
    st.info("Pick two different models in the sidebar, as Model A and Model B, to compare them.")
    st.stop()

controls = st.columns([3, 2])
with controls[0]:
    method, params = components.explanation_controls(list(METHODS), key="compare")
with controls[1]:
    target = components.target_control(all_labels(models), key="compare_target")
    percent = st.slider(
        "Top region for agreement (% of pixels)",
        1,
        50,
        10,
        key="compare_percent",
        persist_state="session",
        help="The share of each map's strongest pixels whose overlap is scored.",
    )
signed = METHODS[method].signed
colourmap, opacity, scale = components.colour_controls(
    "compare",
    method,
    shared_scale=PER_IMAGE,
    scale=("Per model", "Shared by the pair"),
    scale_help="Per model: each model's map gets its own scale, so both are readable even when one model's "
    "numbers are far larger. Shared by the pair: both maps of an image on one scale, so a fainter map means weaker "
    "evidence.",
)
trust = trust_panels.trust_controls("compare")
trust_notice = st.container()
ask_first_above = 0 if not METHODS[method].needs_gradients else 20
results = components.explanations_or_error(images, models, method, params, target, ask_first_above)
if results is None:
    st.stop()

result = comparison(images, models, {method: results}, {method: params}, percent)
scores = result.agreements(method)
words = {key: score.read(percent) for key, score in SCORES.items()}  # (label, reading, detail)
if not result.class_sets.same:
    st.info(result.class_sets.sentence(*models))
maps = result.maps(method)
digests = {key: state.map_digest(raw) for key, raw in maps.items()}  # each map's fingerprint, for the kept pictures
limits = state.limits_of(maps, digests, signed, scale)
slots = {}  # (model, row): where that map's trust checks go, under its notes, filled once they are computed
for row, selected in enumerate(images):
    image = selected.image
    with st.container(border=True, key=components.row_key(image)):
        st.markdown(components.image_heading(selected))
        # Rows of the same three columns: the verdicts (level at the bottom however they wrap), the pictures
        # (so they start level), then the notes and downloads under them.
        spec = [2, 3, 3]
        verdicts = st.columns(spec, vertical_alignment="bottom")
        pictures = st.columns(spec)
        notes = st.columns(spec)
        pictures[0].image(state.shown_file(image), width="stretch", caption=f"{image.width}×{image.height}")
        for index, name in enumerate(models, start=1):
            explanation, limit = result.explanations[(name, method)][row], limits[(name, row)]
            look = dict(
                opacity=opacity, colourmap=colourmap, exponent=METHODS[method].overlay_exponent,
                fit=explanation.fit, true_box=selected.box,
            )  # fmt: skip
            digest = digests[(name, row)]
            picture = state.overlay_picture(image, explanation.map, digest, limit, signed, **look)
            with verdicts[index]:
                familiarity = components.verdict(result.predictions[name][row], name, named=True, note=False)
            pictures[index].image(picture, width="stretch", caption=f"explaining “{explanation.target_label}” · "
                                  f"{limit_caption(explanation.map, limit, signed, scale)}")  # fmt: skip
            with notes[index]:
                components.blank_note(st, method, explanation.map, explanation.target_label)
                st.download_button(
                    "Overlay PNG",
                    lambda args=(image, explanation.map, digest, limit, signed), look=look: encode_png(
                        state.overlay_picture(*args, **look, encoded=False)
                    ),
                    file_name=f"{file_stem(image.name)}.{name}.{method}.png",
                    mime="image/png",
                    icon=":material/download:",
                    key=f"png_{row}_{name}",
                    on_click="ignore",
                )
                components.confidence_note(name, familiarity)
                if trust is not None:
                    slots[(name, row)] = st.container(key=f"compare_trust_slot_{row}_{index}")
        score = scores[row]
        explained = score.explained_sentence(*models)
        if score.same_class:
            st.markdown(explained)
        else:
            st.warning(explained)
        cells = st.columns(4)
        for cell, key, value in (
            (cells[0], "rank_correlation", f"{score.rank_correlation:+.2f}"),
            (cells[1], "top_iou", f"{score.top_iou:.2f}"),
            (cells[2], "box_iou", f"{score.box_iou:.2f}"),
            (cells[3], "same_prediction", score.predictions_word),
        ):
            label, reading, detail = words[key]
            cell.metric(label, value, help=detail)
            cell.caption(reading)

if trust is not None:
    params_key = tuple(sorted(params.items()))

    def other_models_map(name: str, row: int) -> dict:
        """The other model's map of the same image, as a reference: does this model's map beat it on this model?"""
        (other,) = [model for model in models if model != name]
        found = results[(other, row)]
        key = state.explanation_key(other, images[row].image.sha256, method, int(found.target), params_key)
        return {f"{other}'s map": (key, found.map)}

    with trust_notice:
        checks = trust_panels.run_trust(
            images,
            models,
            results,
            method,
            params,
            trust,
            key="compare",
            references=other_models_map,
            reference_words="the other model's map",
        )
    for (name, row), slot in slots.items() if checks else ():
        with slot:
            trust_panels.trust_block(checks[(name, row)], trust, key=f"compare_trust_{row}_{models.index(name)}")

st.subheader(f"Over {len(images)} image{'s' if len(images) > 1 else ''}")
columns = {key: words[key][0].lower() for key in SCORES}
table = pd.DataFrame(
    [
        {
            "image": selected.image.name,
            f"{models[0]}": result.predictions[models[0]][row][0].label,
            f"{models[1]}": result.predictions[models[1]][row][0].label,
            "maps explain": "the same class" if s.same_class else "different classes",
            columns["rank_correlation"]: s.rank_correlation,
            columns["top_iou"]: s.top_iou,
            columns["box_iou"]: s.box_iou,
            columns["same_prediction"]: s.predictions_word,
        }
        for row, (selected, s) in enumerate(zip(images, scores, strict=True))
    ]
)
means = mean_agreement(scores)
table.loc[len(table)] = {
    "image": "mean",
    models[0]: "",
    models[1]: "",
    "maps explain": f"{means['different_classes']} of {len(scores)} differ" if means["different_classes"] else "",
    columns["rank_correlation"]: means["rank_correlation"],
    columns["top_iou"]: means["top_iou"],
    columns["box_iou"]: means["box_iou"],
    columns["same_prediction"]: agreeing_share(means["same_prediction"]),
}
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        columns["rank_correlation"]: st.column_config.NumberColumn(format="%+.2f", help=words["rank_correlation"][2]),
        columns["top_iou"]: st.column_config.NumberColumn(format="%.2f", help=words["top_iou"][2]),
        columns["box_iou"]: st.column_config.NumberColumn(format="%.2f", help=words["box_iou"][2]),
    },
)
components.report_downloads(result, shared=scale != PER_MAP, opacity=opacity, stem=f"report-{method}")
