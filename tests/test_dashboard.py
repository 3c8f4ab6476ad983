"""The dashboard driven by streamlit's AppTest: real models, real caches, no browser."""

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import dataset
from core.images import encode_png

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 120  # the first run loads TensorFlow and both models


def _app() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def _texts(app: AppTest) -> str:
    return "\n".join(element.value for element in [*app.markdown, *app.subheader, *app.caption])


def test_first_visit_shows_both_models_predictions_for_the_default_samples():
    app = _app()
    assert app.selectbox(key="model_a").value == "demo-resnet"
    assert app.selectbox(key="model_b").value == "demo-efficientnet"
    subheaders = [s.value for s in app.subheader]
    assert subheaders.count("demo-resnet") == 2 and subheaders.count("demo-efficientnet") == 2
    verdicts = [m.value for m in app.markdown if m.value.startswith("**")]
    assert len(verdicts) == 4 and all("%" in v for v in verdicts)


def test_uploaded_image_gets_a_prediction_from_each_model():
    app = _app()
    for key in ("sample_0", "sample_1"):
        app.checkbox(key=key).uncheck()
    dog = dataset.generate(41, 1)
    app.sidebar.file_uploader(key="uploads").set_value(("my dog.png", encode_png(dog.pixels), "image/png")).run()
    assert not app.exception, app.exception
    assert [s.value for s in app.subheader] == ["demo-resnet", "demo-efficientnet"]
    verdicts = [m.value for m in app.markdown if m.value.startswith("**")]
    assert len(verdicts) == 2
    assert all(v.startswith(f"**{dataset.LABELS[dog.label]}**") for v in verdicts), verdicts


def test_a_broken_upload_is_one_sentence_and_other_images_still_work():
    app = _app()
    broken = ("broken.png", b"\x89PNG\r\n\x1a\n not really", "image/png")
    app.sidebar.file_uploader(key="uploads").set_value(broken).run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == [
        "broken.png is not an image this app can open; upload a PNG, JPEG, GIF, BMP, TIFF or WebP file."
    ]
    assert [s.value for s in app.subheader].count("demo-resnet") == 2  # the two samples are still shown


def test_one_model_only_and_no_images_have_clear_states():
    app = _app()
    app.selectbox(key="model_b").set_value("(none)").run()
    assert set(s.value for s in app.subheader) == {"demo-resnet"}
    for key in ("sample_0", "sample_1"):
        app.checkbox(key=key).uncheck()
    app.run()
    assert any("Upload images or tick sample images" in i.value for i in app.info)


def _page(path: str) -> AppTest:
    app = _app()
    app.switch_page(path).run()
    assert not app.exception, app.exception
    return app


def test_saliency_page_shows_an_overlay_and_raw_map_per_model_and_image():
    app = _page("views/saliency.py")
    texts = _image_captions(app)
    assert sum("explaining" in t and t.startswith("demo-resnet") for t in texts) == 2
    assert sum("explaining" in t and t.startswith("demo-efficientnet") for t in texts) == 2
    assert sum(t.startswith("raw map, 160×160") for t in texts) == 4


def _raw_map_limits(app: AppTest) -> list[str]:
    """The raw maps' captions from 'colour limit' on: '0.00128 (this map's own)'."""
    return [t.split("colour limit ")[1] for t in _image_captions(app) if t.startswith("raw map") and "limit" in t]


def test_each_map_has_its_own_colour_scale_by_default_and_the_page_says_which_with_a_colour_bar():
    from core.explain import METHODS

    app = _page("views/saliency.py")
    assert app.radio(key="saliency_scale").value == "Per map"
    own = _raw_map_limits(app)
    assert len(own) == 4 and all(limit.endswith(" (this map's own)") for limit in own)
    assert len({limit.split(" ")[0] for limit in own}) == 4  # a bright map does not dim the others
    assert any(c.value.startswith("Colour scale: each map its own") for c in app.caption)
    # The colour bar, and under it what its colours mean.
    assert f"Colours: {METHODS['saliency'].legend}" in _image_captions(app)
    app.radio(key="saliency_scale").set_value("Shared").run()
    shared = _raw_map_limits(app)
    assert len({limit.split(" ")[0] for limit in shared}) == 1 and all("(shared)" in limit for limit in shared)
    own_values = [float(limit.split(" ")[0]) for limit in own]
    assert min(own_values) <= float(shared[0].split(" ")[0]) <= max(own_values)  # the pooled maps' limit
    assert any(c.value.startswith("Colour scale: one for every map") for c in app.caption)


def test_a_map_that_is_zero_everywhere_says_so_in_one_sentence_and_suggests_what_to_try():
    from core.explain import METHODS

    app = _page("views/saliency.py")
    app.session_state["saliency_method"] = "gradcam"
    app.selectbox(key="saliency_target").set_value("other dog").run()
    assert not app.exception, app.exception
    # demo-resnet's Grad-CAM for "other dog" on the dachshund sample: no region raises that score.
    sentence = METHODS["gradcam"].blank_sentence("other dog")
    assert [i.value for i in app.info] == [sentence]
    assert sentence.endswith("try Grad-CAM++, which often finds some.")
    raw_maps = [t for t in _image_captions(app) if t.startswith("raw map")]
    assert [t for t in raw_maps if "zero everywhere" in t] == ["raw map, 160×160, zero everywhere: nothing to colour"]


def test_boxes_page_reports_iou_with_the_true_box_of_generated_samples():
    app = _page("views/boxes.py")
    texts = _image_captions(app)
    ious = [float(t.rsplit(" ", 1)[1]) for t in texts if "IoU with the true box" in t]
    assert len(ious) == 4 and all(0 <= v <= 1 for v in ious)
    assert len(app.dataframe) == 1


def test_boxes_captions_name_the_explained_class():
    app = _page("views/boxes.py")
    boxes = [t for t in _image_captions(app) if " · box [" in t]
    # Each model explains its own prediction: both call the samples by their true classes.
    assert [t.split(" · box")[0] for t in boxes] == [
        f"{name} · explaining “{label}”"
        for label in ("other dog", "dachshund")
        for name in ("demo-resnet", "demo-efficientnet")
    ]
    app.selectbox(key="boxes_target").set_value("dachshund").run()
    boxes = [t for t in _image_captions(app) if " · box [" in t]
    assert len(boxes) == 4 and all("· explaining “dachshund” · box [" in t for t in boxes)


def test_perturbation_page_shows_the_cost_before_running_lime():
    app = _page("views/perturbation.py")
    assert any("model passes each" in i.value for i in app.info)


def _image_captions(app: AppTest) -> list[str]:
    captions = []
    for element in app.main.get("image"):
        for image in element.proto.imgs:
            captions.append(image.caption)
    return captions


def test_the_same_upload_twice_is_shown_once():
    app = _app()
    for key in ("sample_0", "sample_1"):
        app.checkbox(key=key).uncheck()
    png = encode_png(dataset.generate(41, 2).pixels)
    app.sidebar.file_uploader(key="uploads").set_value([("a.png", png, "image/png"), ("b.png", png, "image/png")]).run()
    assert not app.exception, app.exception
    assert [s.value for s in app.subheader] == ["demo-resnet", "demo-efficientnet"]


def test_boxes_page_shows_the_foreground_colour_model_on_request():
    app = _page("views/boxes.py")
    app.toggle(key="boxes_split").set_value(True).run()
    assert not app.exception, app.exception
    assert sum(t.startswith("P(foreground | colour)") for t in _image_captions(app)) == 4


def test_lime_runs_on_a_click_and_shows_its_strongest_regions():
    app = _page("views/perturbation.py")
    app.session_state["perturbation_method"] = "lime"
    app.session_state["perturbation_lime_num_samples"] = 40
    app.run()
    assert any("40 model passes each" in i.value for i in app.info)
    app.button(key="run_lime").click().run()
    assert not app.exception, app.exception
    overlays = [t for t in _image_captions(app) if "· explaining “" in t]
    assert len(overlays) == 4
    assert app.slider(key="perturbation_regions").value == 10


def test_compare_page_shows_both_models_side_by_side_with_agreement_scores():
    app = _page("views/compare.py")
    overlays = [t for t in _image_captions(app) if t.startswith("explaining “")]
    assert len(overlays) == 4  # 2 images × 2 models
    # Per model by default: each overlay on its own colour scale, so a model with larger numbers dims no other.
    assert app.radio(key="compare_scale").value == "Per model"
    limits = [t.split("colour limit ")[1] for t in overlays]
    assert all(limit.endswith("(this map's own)") for limit in limits) and limits[0] != limits[1]
    labels = [m.label for m in app.metric]
    assert labels.count("Same pixel ranking") == 2 and labels.count("Box overlap") == 2
    assert all(-1 <= float(m.value) <= 1 for m in app.metric if m.label == "Same pixel ranking")
    # Every number with how to read it, and the technical definition one click away.
    assert any(c.value.startswith("How much each map's strongest 10% of pixels overlap") for c in app.caption)
    assert next(m for m in app.metric if m.label == "Shared hot spots").help.startswith("Intersection over union")
    assert [m.value for m in app.markdown].count("Both maps explain “other dog”.") == 1
    table = app.dataframe[0].value
    assert list(table["image"])[-1] == "mean" and len(table) == 3
    app.selectbox(key="compare_target").set_value("dachshund").run()  # both models explain the same class
    overlays = [t for t in _image_captions(app) if t.startswith("explaining “")]
    assert len(overlays) == 4 and all(t.startswith("explaining “dachshund”") for t in overlays)
    app.radio(key="compare_scale").set_value("Shared by the pair").run()
    limits = [t.split("colour limit ")[1].split(" ")[0] for t in _image_captions(app) if t.startswith("explaining “")]
    assert limits[0] == limits[1] and limits[2] == limits[3]  # both overlays of one image on one scale
    assert any(c.value.startswith("Colour scale: shared by the maps of each image") for c in app.caption)


def test_compare_page_asks_for_a_second_model():
    app = _app()
    app.selectbox(key="model_b").set_value("(none)").run()
    app.switch_page("views/compare.py").run()
    assert not app.exception, app.exception
    assert any("Pick two different models" in i.value for i in app.info)


def test_method_grid_shows_every_gradient_method_then_shap_and_lime_on_a_click():
    from core.explain import METHODS

    app = _page("views/grid.py")
    gradient_methods = [m for m in METHODS.values() if m.needs_gradients]
    pictures = [t for t in _image_captions(app) if " s · colour limit " in t]
    assert len(pictures) == len(gradient_methods)
    app.toggle(key="grid_slow").set_value(True).run()
    app.session_state["grid_image"] = 1
    assert any("model passes each" in i.value for i in app.info)
    app.button(key="run_lime").click().run()
    assert not app.exception, app.exception
    pictures = [t for t in _image_captions(app) if " s · colour limit " in t]
    assert len(pictures) == len(gradient_methods) + 1  # LIME now; SHAP still waits for its click


def test_report_page_summarises_agreement_for_the_chosen_methods_and_offers_the_downloads():
    app = _page("views/report.py")
    table = app.dataframe[0].value
    assert list(table["method"]) == ["Gradient saliency", "Grad-CAM++"]
    assert table["box overlap"].between(0, 1).all()
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Download report", "Numbers (CSV)", "Numbers (JSON)"]
    app.multiselect(key="report_methods").set_value(["lime"]).run()
    assert any("model passes each" in i.value for i in app.info)  # a slow method asks before it runs
    assert not app.dataframe


def _small_model_file(tmp_path, name: str, lambda_layer: bool = False, tflite: bool = False, seed: int = 0) -> bytes:
    """A tiny trained-from-nothing classifier saved as a user would: 3 classes, softmax, 32×32 RGB."""
    import keras
    import numpy as np

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.set_weights([np.random.default_rng(seed).normal(size=w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / name
    if tflite:
        import tensorflow as tf

        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    else:
        model.save(path)
    return path.read_bytes()


def _add_model(app: AppTest, name: str, data: bytes, **fields) -> AppTest:
    app.sidebar.file_uploader(key="own_model_file").set_value((name, data, "application/octet-stream"))
    for key, value in fields.items():
        widget = {"labels": app.text_input, "trusted": app.checkbox}[key](key=f"own_model_{key}")
        widget.set_value(value) if key == "labels" else widget.check()
    next(b for b in app.sidebar.button if b.label == "Add model").click().run()
    assert not app.exception, app.exception
    return app


def test_an_uploaded_keras_model_is_picked_and_classifies_with_its_labels(tmp_path):
    app = _add_model(_app(), "pets.keras", _small_model_file(tmp_path, "pets.keras"), labels="cat, dog, fox")
    assert not app.sidebar.error
    name = app.selectbox(key="model_a").value
    # The file's name, in full; "(2)" where an earlier test of this server process added another "pets".
    assert re.fullmatch(r"pets( \(\d+\))?", name) and name in app.selectbox(key="model_b").options
    verdicts = [m.value for m in app.main.markdown if m.value.startswith("**")]
    # Per image: model A (the upload), then model B.
    assert len(verdicts) == 4 and all(v.split("**")[1] in ("cat", "dog", "fox") for v in verdicts[::2])
    app.switch_page("views/saliency.py").run()
    assert not app.exception, app.exception
    assert sum(t.startswith(name) for t in _image_captions(app)) == 2  # gradients work on the upload
    # Its 32×32 maps beside the 160×160 ones of demo-efficientnet: compared on one grid, one colour scale.
    app.switch_page("views/compare.py").run()
    assert not app.exception, app.exception
    assert [m.label for m in app.metric].count("Same pixel ranking") == 2


def test_a_model_with_a_lambda_layer_is_refused_until_the_user_trusts_it(tmp_path):
    data = _small_model_file(tmp_path, "odd.keras", lambda_layer=True)
    app = _add_model(_app(), "odd.keras", data)
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and "Lambda" in errors[0] and "\n" not in errors[0]
    assert errors[0].endswith("by marking it trusted (tick “I trust this file”).")
    assert app.selectbox(key="model_a").value == "demo-resnet"  # nothing changed
    app = _add_model(app, "odd.keras", data, trusted=True)
    assert not app.sidebar.error and app.selectbox(key="model_a").value == "odd"


def test_a_tflite_upload_explains_with_lime_but_says_why_gradients_are_missing(tmp_path):
    app = _add_model(_app(), "edge.tflite", _small_model_file(tmp_path, "edge.keras", tflite=True))
    assert not app.sidebar.error, [e.value for e in app.sidebar.error]
    app.selectbox(key="model_b").set_value("(none)").run()
    app.switch_page("views/saliency.py").run()
    assert not app.exception, app.exception
    assert any("gives none" in e.value for e in app.error)
    assert not [t for t in _image_captions(app) if "explaining" in t]


def test_an_imagenet_model_offers_its_download_and_offline_says_so_in_one_sentence():
    app = _app()
    imagenet = next(o for o in app.selectbox(key="model_b").options if o.startswith("efficientnetb1"))
    assert "download" in imagenet
    app.selectbox(key="model_b").set_value("efficientnetb1").run()
    assert any("needs its ImageNet weights" in i.value for i in app.sidebar.info)
    assert [s.value for s in app.subheader] == ["demo-resnet", "demo-resnet"]  # the page goes on with model A
    app.button(key="download_model_b").click().run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and "could not be downloaded" in errors[0]


@pytest.mark.slow
def test_deployment_check_converts_to_float16_and_the_file_loads_back_with_its_card(tmp_path):
    app = _page("views/deploy.py")
    app.selectbox(key="deploy_model").set_value("demo-efficientnet").run()
    app.button(key="deploy_run").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert list(table[""]) == ["File size", "Time per image", "Same top class", "Largest change in a probability"]
    assert table["float16 TFLite"][2] == "100% of 12 images"  # the two ticked samples and the ten others
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Download .tflite", "Download its card (.json)"]

    # What the two buttons hand out, added back in the sidebar like any other model.
    from dashboard import state

    converted = state.float16_files("demo-efficientnet")
    app.sidebar.file_uploader(key="own_model_card").set_value((converted.card_name, converted.card, "application/json"))
    app = _add_model(app, converted.file_name, converted.tflite)
    assert not app.sidebar.error, [e.value for e in app.sidebar.error]
    assert app.selectbox(key="model_a").value == "demo-efficientnet-float16"  # the name its card gives
    app.switch_page("views/classification.py").run()
    verdicts = [m.value for m in app.markdown if m.value.startswith("**")]
    assert verdicts[0].startswith("**other dog**") and verdicts[2].startswith("**dachshund**")


def test_method_grid_of_a_model_without_gradients_offers_shap_and_lime_only(tmp_path):
    app = _add_model(_app(), "edge.tflite", _small_model_file(tmp_path, "edge.keras", tflite=True))
    app.switch_page("views/grid.py").run()
    assert not app.exception, app.exception
    assert any("gives no gradients" in i.value for i in app.info)
    assert not app.error  # no refusal per gradient method
    assert {b.key for b in app.button if b.key} >= {"run_shap", "run_lime"}


def test_parameter_widgets_are_built_from_the_registry_descriptions():
    from core.explain import METHODS
    from dashboard.components import parameter_value, parameter_widget

    kinds = {}
    for method in METHODS.values():
        for parameter in method.parameters:
            widget, arguments = parameter_widget(parameter)
            kinds[(method.name, parameter.name)] = widget
            assert arguments["help"] == f"{parameter.help} Allowed: {parameter.allowed}."
            assert arguments["label"].startswith(parameter.label)
            if widget == "number_input":
                assert arguments["value"] == parameter.default and type(arguments["value"]) is parameter.type
                assert arguments["min_value"] == parameter.minimum and arguments["max_value"] == parameter.maximum
                assert {type(arguments[k]) for k in ("min_value", "step")} == {parameter.type}
            elif widget == "selectbox":
                assert arguments["options"] == parameter.choices
                assert arguments["options"][arguments["index"]] == parameter.default
    assert kinds == {
        ("smoothgrad", "samples"): "number_input",
        ("smoothgrad", "noise"): "number_input",
        ("smoothgrad", "seed"): "number_input",
        ("integrated-gradients", "steps"): "number_input",
        ("integrated-gradients", "baseline"): "selectbox",
        ("gradcam", "layer"): "text_input",
        ("gradcam++", "layer"): "text_input",
        ("shap", "max_evals"): "number_input",
        ("shap", "blur"): "number_input",
        ("shap-gradient", "samples"): "number_input",
        ("shap-gradient", "background"): "number_input",
        ("shap-gradient", "seed"): "number_input",
        ("lime", "num_samples"): "number_input",
        ("lime", "segmentation"): "selectbox",
        ("lime", "segments"): "number_input",
        ("lime", "seed"): "number_input",
    }
    layer = METHODS["gradcam"].parameters[0]
    assert parameter_widget(layer)[1]["label"] == "Layer (empty: the model's default)"
    assert parameter_value(layer, "") is None and parameter_value(layer, "conv") == "conv"
    samples = METHODS["smoothgrad"].parameters[0]
    assert parameter_value(samples, 4.0) == 4 and type(parameter_value(samples, 4.0)) is int


def _method_options(app: AppTest, key: str) -> list[str]:
    """The labels of a page's method picker (a segmented control)."""
    picker = next(group for group in app.get("button_group") if group.key == key)
    return [option.content for option in picker.proto.options]


def test_pages_offer_the_methods_of_their_families_with_the_registrys_widgets():
    from core.explain import METHODS

    app = _page("views/perturbation.py")  # SHAP and LIME wait for a click, so nothing is computed here
    assert _method_options(app, "perturbation_method") == [METHODS[m].title for m in ("shap", "lime", "shap-gradient")]
    max_evals = app.number_input(key="perturbation_shap_max_evals")
    assert (max_evals.label, max_evals.value, max_evals.min, max_evals.max) == ("Max evals", 300, 1, None)
    assert max_evals.help.startswith("Model passes to spend")
    app.session_state["perturbation_method"] = "lime"
    app.run()
    assert app.selectbox(key="perturbation_lime_segmentation").options == ["quickshift", "slic"]
    seed = app.number_input(key="perturbation_lime_seed")
    assert (seed.value, seed.min, seed.max) == (0, 0, 2**31 - 1)
    assert [n.key for n in app.number_input] == [
        f"perturbation_lime_{name}" for name in ("num_samples", "segments", "seed")
    ]

    app.switch_page("views/saliency.py").run()
    gradient_maps = ["saliency", "smoothgrad", "integrated-gradients", "gradcam", "gradcam++"]
    assert _method_options(app, "saliency_method") == [METHODS[m].title for m in gradient_maps]
    app.switch_page("views/boxes.py").run()
    box_sources = ["gradcam", "gradcam++", "saliency", "smoothgrad", "integrated-gradients"]
    assert _method_options(app, "boxes_method") == [METHODS[m].title for m in box_sources]


def test_estimated_time_is_the_registrys_cost_times_the_models_time_per_image(monkeypatch):
    from types import SimpleNamespace

    from core.explain import METHODS
    from dashboard import state

    monkeypatch.setattr(state, "get_model", lambda name: SimpleNamespace(seconds_per_image=0.01))
    for name, method in METHODS.items():
        assert state.estimated_seconds("any", name, method.defaults, 2) == method.passes(method.defaults) * 0.01 * 2
    assert state.estimated_seconds("any", "smoothgrad", {"samples": 4}, 1) == 12 * 0.01


def _photo_upload(app: AppTest, name: str = "chelsea") -> AppTest:
    """The sidebar's two samples unticked and a real photo uploaded instead."""
    from skimage import data

    for key in ("sample_0", "sample_1"):
        app.checkbox(key=key).uncheck()
    app.sidebar.file_uploader(key="uploads").set_value((f"{name}.png", encode_png(getattr(data, name)()), "image/png"))
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_model_out_of_its_depth_says_so_beside_its_prediction_even_when_it_is_sure():
    import json

    from core.familiarity import calibration_of
    from core.spec import MODELS_DIR

    floor = calibration_of(json.loads((MODELS_DIR / "demo-resnet.json").read_text()), 2).floor
    app = _app()
    for key in ("sample_0", "sample_1"):
        app.checkbox(key=key).uncheck()
    app.checkbox(key="sample_8").check()  # the Chelsea cat sample
    app.run()
    assert not app.exception, app.exception
    resnet, efficientnet = [w.value for w in app.warning]
    # demo-resnet calls the cat an other dog, less sure than it usually is, and far from its pictures too.
    found = re.fullmatch(
        r"Unusually unsure, and unlike the pictures it learned from: demo-resnet is (\d+)% sure, while on 1,000 "
        rf"generated dog pictures like those it learned from, 95% of its answers were at least {floor:.0%} sure; and "
        r"in what it sees the image lies further from those pictures than 95% of them do\. Treat this answer with "
        r"care\.",
        resnet,
    )
    assert found and int(found.group(1)) < 100 * floor, resnet
    # demo-efficientnet is sure the cat is an other dog: only the distance of its features catches it.
    assert re.fullmatch(
        r"Unlike the pictures it learned from \(far from them in what the model sees\), even though it is sure: "
        r"demo-efficientnet is 9\d% sure, yet in what it sees the image lies further from those pictures than 95% "
        r"of 1,000 generated dog pictures like those it learned from do\. Treat this answer with care\.",
        efficientnet,
    ), efficientnet
    verdicts = [m for m in app.markdown if m.value.startswith("**")]
    assert re.fullmatch(r"\*\*other dog\*\* · \d+\.\d% · unsure and unlike what it learned from", verdicts[0].value)
    assert re.fullmatch(r"\*\*other dog\*\* · 9\d\.\d% · unlike what it learned from", verdicts[1].value)
    assert "1,000 images (the generated set 2 of core/dataset.py)" in verdicts[0].help  # the detail, one click away
    assert re.search(r"Mahalanobis distance .* This image: \d+\.\d\d, beyond it\.", verdicts[1].help)

    app.switch_page("views/present.py").run()
    pictures = app.pills(key="present_images")
    pictures.set_value(pictures.options.index(next(o for o in pictures.options if "chelsea" in o.lower()))).run()
    assert not app.exception, app.exception
    helps = {h.value.split(":")[0]: h.help for h in app.subheader if h.value.startswith("demo-")}
    assert helps == {"demo-resnet": resnet, "demo-efficientnet": efficientnet}  # the sentences, behind help marks
    notes = [m.value for m in app.markdown if m.value.startswith(":orange-background[")]
    assert notes == [
        ":orange-background[Unusually unsure (usually at least 71%), and unlike the pictures it learned from]",
        ":orange-background[Unlike the pictures it learned from, though 98% sure]",
    ]


@pytest.mark.slow
def test_presentation_shows_each_models_dachshund_with_every_models_probability_and_explains_nothing():
    app = _page("views/present.py")
    app.pills(key="present_method").set_value("gradcam++").run()
    explained = set(app.session_state["computed_explanations"])  # the first image's, on arrival and by Grad-CAM++
    entries = app.pills(key="present_images")
    assert entries.options[-2:] == ["Each model's dachshund", "Honest model vs cheating model"]
    entries.set_value(len(entries.options) - 2).run()  # drawn in the background, no click needed
    assert not app.exception, app.exception
    assert "present_method" not in [pills.key for pills in app.pills]  # no method applies
    assert set(app.session_state["computed_explanations"]) == explained
    assert [h.value for h in app.subheader] == [
        "demo-resnet: a dachshund as it pictures it",
        "demo-efficientnet: a dachshund as it pictures it",
    ]
    assert _pictures(app) == 2  # the two class models, and no colour key
    notes = [m.value for m in app.markdown if "sure it is a dachshund" in m.value]
    assert len(notes) == 2, notes
    models = ["demo-resnet", "demo-efficientnet"]
    for name, other, note in zip(models, models[::-1], notes, strict=True):
        own, said = note.split("  \n")  # a line each
        found = re.fullmatch(rf"\*\*{name}\*\* \(its own\): (>?)([\d.]+)% sure it is a dachshund", own)
        assert found and float(found[2]) >= 99.0, note
        assert re.fullmatch(rf"\*\*{other}\*\*: [<>]?\d+\.\d+% sure it is a dachshund", said), note
    readings = [c.value for c in app.caption if "this picture is “dachshund”" in c.value]
    assert [r.split(" ")[0] for r in readings] == ["demo-resnet", "demo-efficientnet"]
    assert not [i.value for i in app.info if i.value.startswith("Stopped")]
    # Another image brings the explanations back, by the method chosen before.
    app.pills(key="present_images").set_value(0).run()
    assert not app.exception, app.exception
    assert app.pills(key="present_method").value == "gradcam++"


@pytest.mark.slow
def test_presentation_offers_each_models_dachshund_only_where_every_model_has_that_class(tmp_path):
    app = _page("views/present.py")
    entries = app.pills(key="present_images")
    entries.set_value(len(entries.options) - 1).run()  # the story, the last entry
    app.switch_page("views/classification.py").run()
    app = _add_model(app, "pets.keras", _small_model_file(tmp_path, "pets.keras"), labels="cat, dog, fox")
    app.switch_page("views/present.py").run()
    assert not app.exception, app.exception
    options = app.pills(key="present_images").options
    assert "Each model's dachshund" not in options and options[-1] == "Honest model vs cheating model"


def test_models_with_different_classes_are_not_said_to_disagree_and_each_map_says_what_it_explains(tmp_path):
    app = _add_model(_app(), "pets.keras", _small_model_file(tmp_path, "pets.keras"), labels="cat, dog, fox")
    pets = app.selectbox(key="model_a").value
    sentence = next(i.value for i in app.info if i.value.startswith("The models choose among different classes"))
    assert sentence == (
        f"The models choose among different classes: {pets} among 3 (cat, dog, fox), demo-efficientnet among 2 "
        "(other dog, dachshund); they share none, so their answers cannot agree or disagree."
    )
    assert not any("disagree on this image" in w.value for w in app.warning)
    app.switch_page("views/compare.py").run()
    assert not app.exception, app.exception
    assert any(i.value == sentence for i in app.info)
    assert [m.value for m in app.metric if m.label == "Predictions"] == ["not comparable"] * 2
    explained = [w.value for w in app.warning if w.value.startswith(f"The maps explain different classes: {pets} “")]
    assert len(explained) == 2 and all("demo-efficientnet “" in w for w in explained)
    assert list(app.dataframe[0].value["predictions"])[-1] == "not comparable"


def test_adding_a_model_confirms_what_it_is_under_the_name_the_user_chose(tmp_path):
    data = _small_model_file(tmp_path, "pets.keras")
    app = _app()
    app.text_input(key="own_model_name").set_value("My pet classifier")
    app = _add_model(app, "dog_breed_mobilenetv2.keras", data, labels="cat, dog, fox")
    assert app.selectbox(key="model_a").value == "My pet classifier"
    note = [m.value for m in app.sidebar.markdown]
    assert "**Added “My pet classifier”**, now model A." in note
    assert "- File: Keras\n- Input: 32×32 pixels, colour\n- Classes: 3: cat, dog, fox" in "\n".join(note)
    assert any("no preprocessing: pixels go in as 0–255" in m for m in note)  # assumed: neither card nor form said
    assert [s.value for s in app.subheader][:2] == ["My pet classifier", "demo-efficientnet"]

    # Another model asking for a name that is taken gets the next free one, and is told why.
    other = _small_model_file(tmp_path, "other.keras", seed=1)
    app.text_input(key="own_model_name").set_value("demo-resnet")
    app = _add_model(app, "other.keras", other)
    assert app.selectbox(key="model_a").value == "demo-resnet (2)"
    assert "**Added “demo-resnet (2)”** (“demo-resnet” was taken by another model), now model A." in [
        m.value for m in app.sidebar.markdown
    ]


def test_integrated_gradients_reads_its_completeness_in_plain_words():
    app = _page("views/saliency.py")
    app.session_state["saliency_method"] = "integrated-gradients"
    app.run()
    assert not app.exception, app.exception
    checks = [c for c in app.caption if c.value.startswith("The map adds up to the score's rise from the baseline")]
    assert len(checks) == 4 and all("(within 5% is good; more steps bring it closer)" in c.value for c in checks)
    assert checks[0].help.startswith("Completeness of Integrated Gradients")
    assert not any("completeness error" in t for t in _image_captions(app))


@pytest.mark.slow
def test_deployment_check_runs_on_the_users_own_images():
    app = _photo_upload(_app())
    app.switch_page("views/deploy.py").run()
    app.selectbox(key="deploy_model").set_value("demo-resnet").run()
    app.toggle(key="deploy_samples").set_value(False).run()
    assert any(
        c.value.startswith("Compared on 1 image: the 1 chosen in the sidebar (chelsea.png)") for c in app.caption
    )
    app.button(key="deploy_run").click().run()
    assert not app.exception, app.exception
    assert app.dataframe[0].value["float16 TFLite"][2] == "100% of 1 image"
    app.toggle(key="deploy_samples").set_value(True).run()
    # chelsea.png uploaded is not the sample chelsea.png (another encoding): 13 images in all.
    assert any(c.value.startswith("Compared on 13 images: the 1 chosen") for c in app.caption)
    assert app.dataframe[0].value["float16 TFLite"][2] == "100% of 13 images"


def _elements_of_type(block, kind: str) -> list:
    """Every element of a type under a block, however deeply nested (AppTest has no getter for some types)."""
    found = []
    for child in getattr(block, "children", {}).values():
        found += [child] if child.type == kind else _elements_of_type(child, kind)
    return found


def test_report_page_previews_the_report_it_downloads():
    app = _page("views/report.py")
    (frame,) = _elements_of_type(app.main, "iframe")
    shown = frame.proto.srcdoc
    assert "Do demo-resnet and demo-efficientnet look at the same thing?" in shown
    # Per image: the image, two models × two methods' overlays, and each method's colour bar.
    assert "generated-1-other-dog.png" in shown and shown.count("src='data:image/jpeg;base64,") == 2 * (1 + 2 * 2 + 2)
    assert "<script" not in shown.lower()  # shown as it is, so it must stay free of scripts


def test_choices_on_the_saliency_page_are_kept_after_a_visit_to_another_page():
    app = _page("views/saliency.py")
    app.segmented_control(key="saliency_method").set_value("smoothgrad").run()
    app.number_input(key="saliency_smoothgrad_samples").set_value(4)
    app.selectbox(key="saliency_target").set_value("dachshund")
    app.selectbox(key="saliency_cmap").set_value("viridis")
    app.slider(key="saliency_opacity").set_value(0.4)
    app.radio(key="saliency_scale").set_value("Shared")
    app.toggle(key="saliency_raw").set_value(False).run()
    assert not app.exception, app.exception
    chosen = _saliency_choices(app)
    assert chosen == ("smoothgrad", 4, "dachshund", "viridis", 0.4, "Shared", False)

    app.switch_page("views/classification.py").run()
    assert not app.exception, app.exception
    assert [s.value for s in app.subheader].count("demo-resnet") == 2  # the other page really ran
    app.switch_page("views/saliency.py").run()
    assert not app.exception, app.exception
    assert _saliency_choices(app) == chosen
    captions = [t for t in _image_captions(app) if "explaining" in t]
    assert len(captions) == 4 and all("explaining “dachshund”" in t for t in captions)  # drawn with them, too


def _saliency_choices(app: AppTest) -> tuple:
    return (
        app.segmented_control(key="saliency_method").value,
        app.number_input(key="saliency_smoothgrad_samples").value,
        app.selectbox(key="saliency_target").value,
        app.selectbox(key="saliency_cmap").value,
        app.slider(key="saliency_opacity").value,
        app.radio(key="saliency_scale").value,
        app.toggle(key="saliency_raw").value,
    )


# One control per page, each changed from its default, then checked after a visit to Classification.
KEPT_CHOICES = {
    "views/boxes.py": [("slider", "boxes_tol", 0.7), ("toggle", "boxes_all", False)],
    "views/perturbation.py": [("segmented_control", "perturbation_method", "lime")],
    "views/compare.py": [("slider", "compare_percent", 25), ("selectbox", "compare_target", "dachshund")],
    "views/grid.py": [("radio", "grid_scale", "Shared")],
    "views/report.py": [("multiselect", "report_methods", ["gradcam++"]), ("number_input", "report_percent", 20)],
    "views/deploy.py": [("toggle", "deploy_samples", False)],
    "views/present.py": [("pills", "present_method", "gradcam++")],
}


def test_every_pages_choices_are_kept_after_a_visit_to_another_page():
    app = _app()
    app.checkbox(key="sample_1").uncheck().run()  # one image keeps the pages' computations short
    for path, choices in KEPT_CHOICES.items():
        app.switch_page(path).run()
        for kind, key, value in choices:
            getattr(app, kind)(key=key).set_value(value)
        app.run()
        assert not app.exception, (path, app.exception)
        app.switch_page("views/classification.py").run()
        app.switch_page(path).run()
        assert not app.exception, (path, app.exception)
        kept = [getattr(app, kind)(key=key).value for kind, key, _ in choices]
        assert kept == [value for _, _, value in choices], path


def test_a_stopped_explanation_is_not_cached_and_the_same_request_computes_it_again():
    from core.progress import Progress, Stopped
    from dashboard import state

    image = state.samples()[3].image
    request = ("demo-resnet", image.sha256, image, "smoothgrad", None, (("batch_size", 2), ("samples", 6)))

    class StopAtOnce(Progress):
        def advance(self, passes: float) -> None:
            self.stop()
            super().advance(passes)

    stopping = StopAtOnce()
    with pytest.raises(Stopped):
        state.explanation(*request, stopping)
    assert stopping.done > 0  # it had begun
    counting = Progress()
    first = state.explanation(*request, counting)
    assert counting.done == counting.total > 0  # computed from the start: nothing of the stopped run was kept
    cached = Progress()
    again = state.explanation(*request, cached)
    assert cached.done == 0 and again is not first and np.array_equal(again.map, first.map)  # now from the cache


def test_inside_page_draws_each_class_model_in_the_background_then_shows_it_with_each_models_probability():
    app = _page("views/inside.py")
    app.number_input(key="inside_steps_regularised").set_value(30).run()
    assert not app.exception, app.exception
    app.button(key="inside_draw").click().run()
    assert not app.exception, app.exception
    own = [m.value for m in app.markdown if "(its own): P(dachshund) = " in m.value]
    assert len(own) == 2 and all(float(re.search(r"= ([\d.]+)", line)[1]) >= 0.99 for line in own), own
    assert "inside_draw" not in [button.key for button in app.button]  # drawn and kept: nothing left to click
    assert not [info.value for info in app.info if info.value.startswith("Stopped")]


def test_a_stopped_class_model_is_not_kept_and_a_finished_one_is_kept_with_its_pictures_on_the_way():
    from core.progress import Progress, Stopped
    from dashboard import state

    request = ("demo-resnet", "dachshund", "regularised", 20)

    class StopAtStep10(Progress):
        def __setattr__(self, name, value):
            super().__setattr__(name, value)
            if name == "latest" and value.step >= 10:
                self.stop()

    stopping = StopAtStep10(total=20)
    with pytest.raises(Stopped):
        state.draw_class_model(*request, stopping)
    assert stopping.latest.step == 10 and state.cached_class_model(*request) is None
    watching = Progress(total=20)
    result = state.draw_class_model(*request, watching)
    assert watching.latest.step == 20 and watching.latest.pixels.shape == (1, 160, 160, 3)
    assert result.steps == 20 and state.cached_class_model(*request) is result


def test_pictures_drawn_through_the_caches_are_core_renders_own_to_the_byte():
    """The Saliency and SHAP pages draw through dashboard.state's caches (the layer kept apart from the opacity,
    the compiled blend, the picture kept): each file must be the file of core.render's picture, first drawn and
    then from the cache, at a new opacity over a kept layer too."""
    from core.render import colour_bar, colourise, display_size, framed, overlay, picture_file
    from core.samples import sample_images
    from dashboard import state

    rng = np.random.default_rng(3)
    photo, dog = sample_images()[10].image, sample_images()[0].image  # 512x512 drawn at 640, 160 drawn at 640
    maps = [rng.normal(size=(224, 224)).astype(np.float32), np.outer(np.hanning(160), np.hanning(160))]
    for image, raw in [(photo, maps[0]), (dog, maps[1]), (dog, maps[0])]:
        digest = state.map_digest(raw)
        settings = [(False, "viridis", 1.0, 2), (True, "viridis", 1.0, 2), (True, None, 1.5, 2), (True, None, 1.5, 3)]
        for signed, colourmap, exponent, share in settings:  # each differs from the one before in one respect
            limit = float(np.abs(raw).max()) / share
            for opacity in (0.65, 0.3, 0.65):  # drawn, a new opacity over the kept layer, then from the cache
                expected = overlay(
                    display_size(image.pixels),
                    raw,
                    limit,
                    signed,
                    opacity=opacity,
                    colourmap=colourmap,
                    exponent=exponent,
                )
                drawn = state.overlay_picture(
                    image, raw, digest, limit, signed, opacity=opacity, colourmap=colourmap, exponent=exponent
                )
                # Compared apart from the assert: pytest's diff of two 100 kB byte strings would take minutes.
                same = drawn == picture_file(expected, photo=True)
                assert same, (image.name, signed, opacity)
            raw_file = state.raw_picture(raw, digest, limit, signed, colourmap)
            same = raw_file == picture_file(framed(colourise(raw, limit, signed, colourmap)), photo=False)
            assert same, (image.name, signed)
    same = state.colour_bar_picture(True, None, 1.5) == picture_file(colour_bar(True, None, 1.5), photo=False)
    assert same


def test_pictures_with_their_boxes_drawn_through_the_caches_are_core_renders_own_to_the_byte():
    """The Compare, Method grid and Presentation pages draw the map with its fitted box and the true box through
    the same caches, at their own sizes: the picture must be core.render.explanation_picture's, and another box
    (or none) another picture."""
    from core.boxes import fit_box
    from core.render import explanation_picture, picture_file
    from core.samples import sample_images
    from dashboard import state

    photo = sample_images()[10].image
    raw = np.zeros((224, 224), np.float32)
    raw[60:120, 90:170] = 1.0
    fit, other = fit_box(raw), fit_box(raw[::-1].copy())
    digest, truth = state.map_digest(raw), (40.0, 50.0, 300.0, 260.0)
    for side, opacity, true_box in [(640, 0.65, truth), (480, 0.6, None), (720, 0.6, truth), (720, 0.6, truth)]:
        look = dict(opacity=opacity, colourmap=None, exponent=1.0, side=side, fit=fit, true_box=true_box)
        drawn = state.overlay_picture(photo, raw, digest, 1.0, False, **look)
        expected = explanation_picture(
            photo.pixels, raw, fit, 1.0, False, opacity=opacity, exponent=1.0, side=side, true_box=true_box
        )
        assert np.array_equal(state.overlay_picture(photo, raw, digest, 1.0, False, **look, encoded=False), expected)
        same = drawn == picture_file(expected, photo=True)
        assert same, (side, opacity)
        for changed in ({"fit": other}, {"fit": None}, {"true_box": None if true_box else truth}):
            differs = state.overlay_picture(photo, raw, digest, 1.0, False, **(look | changed)) != drawn
            assert differs, (side, changed)


def test_the_compare_pages_kept_agreement_is_cores_and_follows_every_argument():
    from core.agreement import ClassSets, agreement
    from dashboard import state

    rng = np.random.default_rng(5)
    a, b = rng.random((2, 28, 28)).astype(np.float32)
    arguments = [(a, b, (1, 2, 20, 22), (3, 3, 25, 25), "dachshund", "other dog", 10.0)]
    arguments.append((a, b, *arguments[0][2:6], 30.0))  # another top region
    arguments.append((a, rng.random((28, 28)).astype(np.float32), *arguments[0][2:]))  # another map
    arguments.append((a, b.copy(), (1, 2, 20, 21), *arguments[0][3:]))  # another box
    options = {"explained": ("dachshund", "dachshund"), "classes": ClassSets(("x", "y"), ("y", "x"))}
    for given in arguments:
        for _ in range(2):  # worked out, then kept
            assert state.agreement(*given, **options) == agreement(*given, **options)
    # Each argument changes the scores, so a result kept under too coarse a key would have failed above.
    assert len({state.agreement(*given, **options) for given in arguments}) == len(arguments)


def test_a_map_that_differs_in_one_value_gets_a_picture_of_its_own():
    raw = np.zeros((8, 8), np.float32)
    changed = raw.copy()
    changed[3, 3] = 1e-6
    from dashboard import state

    assert state.map_digest(raw) != state.map_digest(changed)
    assert state.map_digest(raw) != state.map_digest(raw.astype(np.float64))  # same zeros, another type
    assert state.map_digest(raw) != state.map_digest(raw.reshape(4, 16))
    assert state.map_digest(raw) == state.map_digest(raw.copy())


def test_kept_pictures_stay_within_their_budget_dropping_the_least_recently_used():
    from dashboard.state import _Drawn

    drawn = _Drawn(budget=300)
    made = []

    def make(name):
        made.append(name)
        return name.encode() * 100  # 100 bytes each

    for name in "abc":
        drawn.get(name, lambda name=name: make(name))
    drawn.get("a", lambda: make("a"))  # kept: "a" is now the most recently used
    drawn.get("d", lambda: make("d"))  # over budget: "b", the least recently used, goes
    drawn.get("a", lambda: make("a"))
    drawn.get("b", lambda: make("b"))
    assert made == ["a", "b", "c", "d", "b"]


def _inside_view(view: str) -> AppTest:
    app = _page("views/inside.py")
    app.session_state["inside_view"] = view
    app.run()
    assert not app.exception, app.exception
    return app


def _pictures(app: AppTest) -> int:
    return sum(len(element.proto.imgs) for element in app.main.get("image"))


@pytest.mark.slow
def test_inside_page_draws_filter_patterns_only_when_asked_saying_the_cost_first():
    app = _inside_view("Filter patterns")
    app.slider(key="inside_filter_count").set_value(4).run()
    toggle = app.toggle(key="inside_filters_go_demo-resnet")
    assert re.fullmatch(r"Draw the patterns \(about \d+ s\)", toggle.label), toggle.label
    assert _pictures(app) == 0  # nothing drawn before it is asked for
    toggle.set_value(True).run()
    assert not app.exception, app.exception
    assert _pictures(app) == 1  # demo-resnet's grid only: demo-efficientnet's was not asked for
    (caption,) = [c.value for c in app.caption if c.value.startswith("The input that most raises")]
    assert "after 48 steps" in caption


def _patch_activations(app: AppTest) -> list[float]:
    """The value under each patch, in the page's order (the boxed source images have no caption)."""
    return [float(caption) for caption in _image_captions(app) if caption]


def test_inside_page_shows_the_patches_that_excite_a_filter_strongest_first_with_their_source_images():
    app = _inside_view("Exciting patches")
    app.slider(key="inside_patch_count").set_value(4).run()
    assert not app.exception, app.exception
    assert _pictures(app) == 2 * 4 * 2  # per model: four patches, each above its source image with the patch boxed
    activations = _patch_activations(app)
    assert len(activations) == 8
    for one_model in (activations[:4], activations[4:]):
        assert one_model == sorted(one_model, reverse=True) and one_model[0] > 0
    layer = app.selectbox(key="inside_patches_layer_demo-resnet").value
    app.number_input(key=f"inside_filter_demo-resnet_{layer}").set_value(1).run()
    assert not app.exception, app.exception
    assert _patch_activations(app)[:4] != activations[:4]  # another filter, other patches
    assert _patch_activations(app)[4:] == activations[4:]  # the other model's choice is its own
