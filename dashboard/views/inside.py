"""Inside the model: what each network has learned at all, apart from any one image."""

import streamlit as st

from core.errors import UserError
from core.inside import pictures
from core.inside.class_model import PAGE_STEPS, PRESETS, reading
from dashboard import components, state, waiting
from dashboard.views.common import all_labels

FILTER_STEPS = 48
PRESET_TITLES = {
    "seed": "seed (Simonyan et al. 2014)",
    "seed-frozen": "seed, BatchNorm frozen",
    "regularised": "regularised (recognisable)",
}

st.title("Inside the model")
st.caption(
    "What each network has learned at all: the picture it takes to be most like a class, what each layer sees in "
    "an image, and the patterns and image patches each filter responds to most."
)
models = state.selected_models()
if not models:
    st.info("Pick a model in the sidebar.")
    st.stop()
view = st.segmented_control(
    "Show", ["Class model", "Feature maps", "Filter patterns", "Exciting patches"], key="inside_view",
    default="Class model", label_visibility="collapsed",
)  # fmt: skip


def _layer_picker(name: str, key: str) -> str:
    layers = state.inside_layers(name)
    names = [layer.name for layer in layers]
    default = state.inside_default_layer(name)
    labels = {layer.name: layer.label for layer in layers}
    return st.selectbox(f"Layer of {name}", names, index=names.index(default), key=f"{key}_{name}",
                        format_func=labels.get, help="Every layer with a spatial output, nested base networks' too, "
                        "with its kind and output shape (height × width × channels).")  # fmt: skip


def class_model_view() -> None:
    controls = st.columns([2, 2, 1])
    target = controls[0].selectbox("Class", all_labels(models), key="inside_class",
                                   index=len(all_labels(models)) - 1)  # fmt: skip
    preset = controls[1].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("regularised"),
                                   key="inside_preset", format_func=PRESET_TITLES.get,
                                   help="seed: plain gradient ascent with an L2 penalty, BatchNorm in training "
                                   "mode (on one image that caps the score it can raise: on the bundled models its "
                                   "pictures stay short of a confident class). seed-frozen: the same with BatchNorm "
                                   "in inference, as the seed's own frozen network ran it: confident, but noise-like. "
                                   "regularised: a decorrelated frequency parameterisation, random jitter, scale and "
                                   "rotation, total-variation and L2 penalties.")  # fmt: skip
    steps = controls[2].number_input("Steps", 10, 3000, PAGE_STEPS[preset], step=10, key=f"inside_steps_{preset}")
    runnable = [name for name in models if target in state.get_model(name).spec.labels]
    seconds = sum(state.seconds_per_ascent_step(name) * steps for name in runnable)
    cached = {name: state.cached_class_model(name, target, preset, steps) for name in runnable}
    missing = [name for name in runnable if cached[name] is None]
    request = ("inside_class", target, preset, int(steps), tuple(missing))
    if missing and not waiting.was_asked(request) and not waiting.was_stopped(request):
        st.caption(f"{steps} steps per model, each about one forward and backward pass: about {seconds:.0f} s "
                   "here for both.")  # fmt: skip
        if st.button("Draw the class model", type="primary", key="inside_draw"):
            waiting.ask_to_run(request)  # a click elsewhere while it computes does not bring the button back
    asked = waiting.was_asked(request)
    if missing and asked:
        waiting.stop_other_work({("class_model", name, target, preset, int(steps)) for name in missing})
    columns = st.columns(len(models))
    drawn = False
    for column, name in zip(columns, models, strict=True):
        with column:
            st.subheader(name)
            if name not in runnable:
                st.info(f"“{target}” is not one of {name}'s classes.")
                continue
            result = cached[name]
            if result is None and not asked:
                if not waiting.was_stopped(request):
                    st.caption("Not drawn yet for this class, preset and number of steps.")
                elif name == missing[0]:
                    waiting.stopped_note(request, f"Drawing the class model of {target}")
                continue
            if result is None:

                def work(progress, name=name):
                    return state.draw_class_model(name, target, preset, steps, progress)

                try:
                    result = waiting.watched(("class_model", name, target, preset, int(steps)), request,
                                             f"Drawing {target} as {name} pictures it", steps, work,
                                             components.growing_picture(320))  # fmt: skip
                except UserError as error:
                    st.error(str(error))
                    continue
                if result is None:
                    break  # stopped: the other models' pictures are not drawn either
                drawn = True
            # At its own width: "content" would widen a picture to a caption longer than it, one model's more than
            # the other's.
            st.image(pictures.enlarged(result.pixels, 320), width=320,
                     caption=f"{result.target} as {name} pictures it · {result.steps} steps in "
                     f"{result.seconds:.1f} s")  # fmt: skip
            lines = [f"**{name}** (its own): P({target}) = {result.probability:.3f}, score {result.score:.2f}"]
            for other in models:
                if other != name:
                    p = state.probability_of(other, result.pixels, target)
                    lines.append(f"**{other}**: " + (f"P({target}) = {p:.3f}" if p is not None else
                                                     f"“{target}” is not one of its classes"))  # fmt: skip
            st.markdown("  \n".join(lines))
            st.caption(reading(result, probability=False))
            if result.history:
                history = {"step": [step for step, _ in result.history], "score": [s for _, s in result.history]}
                st.line_chart(history, x="step", y="score", height=140, y_label="score while ascending")
    if drawn:
        st.rerun()  # the button goes: every model's picture is now kept


def feature_maps_view() -> None:
    images, errors = state.selected_images()
    for error in errors:
        st.error(error)
    if not images:
        st.info("Upload images or tick sample images in the sidebar.")
        return
    names = {selected.image.sha256: selected.image.name for selected in images}
    chosen = st.selectbox("Image", list(names), format_func=names.get, key="inside_image")
    image = next(selected.image for selected in images if selected.image.sha256 == chosen)
    show_all = st.toggle("Every channel (else the 16 strongest)", key="inside_all_channels")
    for name in models:
        st.subheader(name)
        layer = _layer_picker(name, "inside_features_layer")
        try:
            maps = state.layer_feature_maps(name, chosen, image, layer)
        except UserError as error:
            st.error(str(error))
            continue
        channels = maps.order if show_all else maps.order[:16]
        tiles = pictures.channel_tiles(maps.maps, channels, maps.limit, maps.signed, side=88)
        st.image(pictures.grid(tiles, 8, [f"#{c}" for c in channels]), width="content")
        h, w, k = maps.maps.shape
        scale = f"−{maps.limit:.3g} (blue) to {maps.limit:.3g} (red)" if maps.signed else f"0 to {maps.limit:.3g}"
        st.caption(f"{len(channels)} of {k} channels ({h}×{w}), strongest (mean |activation|) first, all on one "
                   f"colour scale: {scale}.")  # fmt: skip


def filter_patterns_view() -> None:
    count = st.slider("Filters", 4, 32, 8, step=4, key="inside_filter_count")
    for name in models:
        st.subheader(name)
        layer = _layer_picker(name, "inside_filters_layer")
        seconds = state.seconds_per_ascent_step(name) * FILTER_STEPS * count
        if not st.toggle(f"Draw the patterns (about {seconds:.0f} s)", key=f"inside_filters_go_{name}"):
            continue
        request = ("inside_filters", name, layer, count)

        def work(progress, name=name, layer=layer):
            return state.layer_filter_patterns(name, layer, count, FILTER_STEPS, progress)

        try:
            patterns = waiting.watched(
                request, request, f"Drawing {count} filter patterns of {layer}", FILTER_STEPS, work
            )
        except UserError as error:
            st.error(str(error))
            continue
        if patterns is None:
            continue
        tiles = [pictures.enlarged(p, 96) for p in patterns.pixels]
        st.image(pictures.grid(tiles, 8, [f"#{f}" for f in patterns.filters]), width="content")
        st.caption(f"The input that most raises each filter's mean activation, after {patterns.steps} steps "
                   f"({patterns.seconds:.1f} s).")  # fmt: skip


def patches_view() -> None:
    controls = st.columns(2)
    source = controls[0].selectbox("Among", state.PATCH_SOURCES, key="inside_patch_source")
    count = controls[1].slider("Patches", 4, 12, 8, key="inside_patch_count")
    for name in models:
        st.subheader(name)
        columns = st.columns([3, 1])
        with columns[0]:
            layer = _layer_picker(name, "inside_patches_layer")
        channels = next(info.output_shape[2] for info in state.inside_layers(name) if info.name == layer)
        filter_index = columns[1].number_input("Filter", 0, channels - 1, 0, key=f"inside_filter_{name}_{layer}")
        request = ("inside_patches", name, layer, int(filter_index), count, source)

        def work(progress, name=name, layer=layer, filter_index=int(filter_index)):
            return state.filter_patches(name, layer, filter_index, count, source, progress)

        try:
            doing = f"Finding the patches that excite filter {int(filter_index)} of {layer}"
            found = waiting.watched(request, request, doing, state.patch_source_size(source), work)
        except UserError as error:
            st.error(str(error))
            continue
        if found is None:
            continue
        patches, sized = found
        row = st.columns(len(patches))
        for column, patch in zip(row, patches, strict=True):
            column.image(pictures.enlarged(patch.pixels, 96), width="stretch", caption=f"{patch.activation:.3g}")
            column.image(pictures.with_box(sized[patch.image], patch.box, 96), width="stretch")
        st.caption("Each patch is the filter's receptive field around one of its strongest activations (the value "
                   "under it), and below it the source image with the patch boxed.")  # fmt: skip


{"Class model": class_model_view, "Feature maps": feature_maps_view, "Filter patterns": filter_patterns_view,
 "Exciting patches": patches_view}.get(view or "Class model", class_model_view)()  # fmt: skip
