"""Users' models in every format: saved, loaded back through `spec_from_file`/`load_model`, same predictions;
what is read from the model, the card and the options; and every refusal as one sentence."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import method_budget

from core.classify import classify
from core.errors import ModelError
from core.explain import METHODS, explain
from core.scoring import LoadedModel, load_model
from core.spec import spec_from_file

FIXTURES = Path(__file__).parent / "fixtures"
LABELS = ("cat", "dog", "fox")


def nested_classifier(keras, channels: int = 3, head: str = "softmax"):
    """A base network with a DepthwiseConv2D used as a layer, then pooling and a dense head."""
    keras.utils.set_random_seed(11)
    base_input = keras.Input((32, 32, channels))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(base_input)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.Conv2D(12, 1, activation="relu", name="base_features")(x)
    base = keras.Model(base_input, x, name="base_network")
    inputs = keras.Input((32, 32, channels))
    pooled = keras.layers.GlobalAveragePooling2D()(base(keras.layers.Rescaling(1 / 255)(inputs)))
    units, activation = {"softmax": (3, "softmax"), "sigmoid": (1, "sigmoid"), "logits": (3, None)}[head]
    outputs = keras.layers.Dense(units, activation=activation, name="head")(pooled)
    return keras.Model(inputs, outputs, name="nested_classifier")


def to_tflite(model, path: Path) -> Path:
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture(scope="module")
def saved(keras, tmp_path_factory):
    """The same nested classifier in each format, and its own predictions on a few images."""
    folder = tmp_path_factory.mktemp("formats")
    model = nested_classifier(keras)
    files = {
        "keras": folder / "nested.keras",
        "h5": folder / "nested.h5",
        "savedmodel": folder / "nested_saved",
        "tflite": folder / "nested.tflite",
    }
    model.save(files["keras"])
    model.save(files["h5"])
    model.export(files["savedmodel"], verbose=False)
    to_tflite(model, files["tflite"])
    pixels = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype(np.float32)
    return files, pixels, model.predict(pixels, verbose=0)


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel", "tflite"])
def test_each_format_loads_back_with_the_same_predictions(saved, fmt):
    files, pixels, expected = saved
    spec = spec_from_file(files[fmt], labels=LABELS)
    assert spec.format == fmt and spec.input_size == (32, 32) and spec.colour_mode == "rgb"
    assert spec.output == "softmax" and spec.labels == LABELS and spec.differentiable == (fmt in ("keras", "h5"))
    model = load_model(spec)
    assert model.differentiable == spec.differentiable
    np.testing.assert_allclose(model.probabilities(pixels), expected, atol=2e-5)
    np.testing.assert_allclose(model.probabilities(pixels, batch_size=2), expected, atol=2e-5)


def test_keras2_h5_with_depthwise_groups_and_a_nested_base_model_loads():
    # Written by TensorFlow 2.15 (tests/fixtures/make_keras2_h5.py): Keras 3 alone fails on both quirks.
    reference = np.load(FIXTURES / "keras2_nested.npz")
    spec = spec_from_file(FIXTURES / "keras2_nested.h5", labels=["a", "b", "c"])
    assert spec.format == "h5" and spec.output == "softmax" and spec.input_size == (32, 32)
    model = load_model(spec)
    assert model.differentiable
    pixels = reference["pixels"].astype(np.float32)
    np.testing.assert_allclose(model.probabilities(pixels), reference["probabilities"], atol=1e-5)


def test_savedmodel_folder_written_by_tf215_loads_with_the_same_predictions():
    reference = np.load(FIXTURES / "keras2_nested.npz")
    spec = spec_from_file(FIXTURES / "keras2_savedmodel", labels=["a", "b", "c"])
    assert (spec.format, spec.output, spec.input_size, spec.name) == (
        "savedmodel",
        "softmax",
        (32, 32),
        "keras2_savedmodel",
    )
    model = load_model(spec)
    assert not model.differentiable
    pixels = reference["pixels"].astype(np.float32)
    np.testing.assert_allclose(model.probabilities(pixels), reference["probabilities"], atol=1e-5)


def test_a_zipped_savedmodel_folder_loads_like_the_folder(tmp_path):
    # One file is what an upload gives: the folder zipped, either at the top or inside one folder.
    import shutil

    reference = np.load(FIXTURES / "keras2_nested.npz")
    for root_dir, base_dir in ((FIXTURES / "keras2_savedmodel", "."), (FIXTURES, "keras2_savedmodel")):
        archive = Path(shutil.make_archive(str(tmp_path / f"zipped{len(base_dir)}"), "zip", root_dir, base_dir))
        spec = spec_from_file(archive, labels=["a", "b", "c"])
        assert spec.format == "savedmodel" and spec.name == archive.stem
        probabilities = load_model(spec).probabilities(reference["pixels"].astype(np.float32))
        np.testing.assert_allclose(probabilities, reference["probabilities"], atol=1e-5)


def test_integer_quantised_tflite_loads_and_agrees(keras, tmp_path):
    import tensorflow as tf

    model = nested_classifier(keras)
    pixels = np.random.default_rng(5).uniform(0, 255, (16, 32, 32, 3)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([pixels[i : i + 1]] for i in range(len(pixels)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    (tmp_path / "int8.tflite").write_bytes(converter.convert())
    loaded = load_model(spec_from_file(tmp_path / "int8.tflite", labels=LABELS, output="softmax"))
    np.testing.assert_allclose(loaded.probabilities(pixels), model.predict(pixels, verbose=0), atol=0.05)


@pytest.fixture(scope="module")
def keras2_model():
    return load_model(spec_from_file(FIXTURES / "keras2_nested.h5", labels=["a", "b", "c"]))


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_on_a_loaded_keras2_nested_model(keras2_model, method):
    pixels = np.load(FIXTURES / "keras2_nested.npz")["pixels"].astype(np.float32)
    maps = explain(keras2_model, pixels, np.array([0, 2]), method, method_budget(method))
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all() and np.abs(maps).max() > 0


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_formats_without_gradients_run_shap_and_lime_and_refuse_the_rest(saved, fmt):
    files, pixels, _ = saved
    model = load_model(spec_from_file(files[fmt], labels=LABELS))
    for method in METHODS.values():
        if method.needs_gradients:
            refusal = r"needs gradients, and nested(_saved)? is a (SavedModel|TensorFlow Lite) file, which gives none"
            with pytest.raises(ModelError, match=refusal + "; use SHAP"):
                explain(model, pixels[:1], np.array([1]), method.name)
        else:
            maps = explain(model, pixels[:2], np.array([1, 2]), method.name, method_budget(method.name))
            assert maps.shape == (2, 32, 32) and np.isfinite(maps).all() and np.abs(maps).max() > 0


def test_scores_of_a_hidden_softmax_are_its_logits_up_to_a_shift(saved, keras):
    # SavedModel and TFLite hide the last layer: scores are log p, which differ from the logits by a
    # constant per image, so their differences (what SHAP and LIME compare) are the same.
    files, pixels, _ = saved
    keras_scores = load_model(spec_from_file(files["keras"], labels=LABELS)).scores(pixels)
    for fmt in ("savedmodel", "tflite"):
        scores = load_model(spec_from_file(files[fmt], labels=LABELS)).scores(pixels)
        np.testing.assert_allclose(scores - scores[:, :1], keras_scores - keras_scores[:, :1], atol=1e-3)


@pytest.mark.parametrize("fmt", ["keras", "tflite"])
def test_a_greyscale_sigmoid_model_works_end_to_end(keras, tmp_path, fmt):
    model = nested_classifier(keras, channels=1, head="sigmoid")
    path = tmp_path / f"grey.{fmt}"
    model.save(path) if fmt == "keras" else to_tflite(model, path)
    spec = spec_from_file(path)
    assert spec.colour_mode == "grayscale" and spec.output == "sigmoid" and spec.labels == ("class 0", "class 1")
    assert set(spec.card["guessed"]) == {"color_mode", "preprocessing", "output", "labels"}
    loaded = load_model(spec)
    rgb = np.random.default_rng(2).integers(0, 256, (48, 40, 3), np.uint8)
    pixels = spec.resize([rgb])
    (prediction,) = classify(loaded, [rgb], k=2)
    expected = float(model.predict(pixels, verbose=0)[0, 0])
    assert {p.label: p.probability for p in prediction}["class 1"] == pytest.approx(expected, abs=1e-5)
    method = "saliency" if fmt == "keras" else "lime"
    maps = explain(loaded, pixels, np.array([1]), method, method_budget(method))
    assert maps.shape == (1, 32, 32) and np.abs(maps).max() > 0


def test_output_kind_is_read_from_the_last_layer_or_the_outputs(keras, tmp_path):
    logits = nested_classifier(keras, head="logits")
    logits.save(tmp_path / "logits.keras")
    assert spec_from_file(tmp_path / "logits.keras").output == "logits"
    to_tflite(logits, tmp_path / "logits.tflite")
    assert spec_from_file(tmp_path / "logits.tflite").output == "logits"
    to_tflite(nested_classifier(keras, head="sigmoid"), tmp_path / "sigmoid.tflite")
    assert spec_from_file(tmp_path / "sigmoid.tflite").output == "sigmoid"
    loaded = load_model(spec_from_file(tmp_path / "logits.keras", output="logits"))
    assert loaded.score_model is loaded.model  # raw scores already: nothing to strip
    with pytest.raises(ModelError, match="declare its output as 'logits'"):
        spec = spec_from_file(tmp_path / "logits.keras", output="softmax")
        load_model(spec)


def test_card_beside_the_model_gives_what_the_file_does_not(saved, tmp_path):
    files, pixels, expected = saved
    model_path = tmp_path / "pets.keras"
    model_path.write_bytes(files["keras"].read_bytes())
    (tmp_path / "pets.txt").write_text("cat\ndog\n\nfox\n")
    card = {"name": "pets", "labels": "pets.txt", "preprocessing": "unit", "gradcam_layer": "base_features"}
    (tmp_path / "pets.json").write_text(json.dumps({**card, "trusted": True}))
    spec = spec_from_file(model_path)
    assert (spec.name, spec.labels, spec.preprocessing, spec.gradcam_layer) == (
        "pets",
        LABELS,
        "unit",
        "base_features",
    )
    assert not spec.trusted  # a card travels with the file, so it cannot vouch for it
    assert spec_from_file(model_path, preprocessing="raw", name="other").preprocessing == "raw"
    # The card itself can be given instead of the model.
    (tmp_path / "pets.json").write_text(json.dumps({**card, "file": "pets.keras", "preprocessing": "raw"}))
    from_card = spec_from_file(tmp_path / "pets.json")
    assert from_card.path == model_path and from_card.preprocessing == "raw"
    np.testing.assert_allclose(load_model(from_card).probabilities(pixels), expected, atol=2e-5)


def test_labels_files_in_each_form(saved, tmp_path):
    files, _, _ = saved
    (tmp_path / "list.json").write_text(json.dumps(list(LABELS)))
    (tmp_path / "index.json").write_text(json.dumps({"1": ["n1", "dog"], "0": ["n0", "cat"], "2": ["n2", "red_fox"]}))
    assert spec_from_file(files["keras"], labels=tmp_path / "list.json").labels == LABELS
    assert spec_from_file(files["keras"], labels=str(tmp_path / "index.json")).labels == ("cat", "dog", "red fox")


def test_wrong_number_of_labels_is_one_sentence(saved, keras, tmp_path):
    files, _, _ = saved
    with pytest.raises(ModelError, match=r"^2 labels were given but nested.keras has 3 classes; give one label"):
        spec_from_file(files["keras"], labels=["a", "b"])
    model = nested_classifier(keras, head="sigmoid")
    model.save(tmp_path / "binary.keras")
    expected = r"3 labels were given .* 2 classes \(one output unit: two classes, the negative one first\)"
    with pytest.raises(ModelError, match=expected):
        spec_from_file(tmp_path / "binary.keras", labels=LABELS)


def test_lambda_layers_are_refused_unless_the_file_is_trusted(keras, tmp_path):
    inputs = keras.Input((8, 8, 3))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(doubled)))
    model.save(tmp_path / "lambda.keras")
    for path in (tmp_path / "lambda.keras", FIXTURES / "keras2_lambda.h5"):
        with pytest.raises(ModelError, match=r"has a Lambda layer, which runs Python code .* trusted"):
            spec_from_file(path)
        spec = spec_from_file(path, trusted=True)
        assert spec.trusted and spec.labels == ("class 0", "class 1")
        probabilities = load_model(spec).probabilities(np.ones((1, 8, 8, 3), np.float32))
        np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)


def test_objects_from_outside_keras_are_refused(saved, tmp_path):
    files, _, _ = saved
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(files["keras"]) as source, zipfile.ZipFile(foreign, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = config["config"]["layers"][1]
                layer.update(module="os", registered_name="Evil>Rescaling")
                data = json.dumps(config).encode()
            target.writestr(item, data)
    with pytest.raises(ModelError, match="from the module 'os', code from outside Keras.*trusted"):
        spec_from_file(foreign)


def test_files_that_are_not_models_and_models_that_do_not_take_images(keras, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="notes.h5 is not a model file this app can read"):
        spec_from_file(text)
    with pytest.raises(ModelError, match="There is no file or folder at"):
        spec_from_file(tmp_path / "absent.keras")
    with pytest.raises(ModelError, match="is not a SavedModel"):
        spec_from_file(tmp_path)
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs)).save(tmp_path / "table.keras")
    with pytest.raises(ModelError, match=r"table.keras does not take images: its input has shape \(None, 10\)"):
        spec_from_file(tmp_path / "table.keras")
    weights_only = tmp_path / "only.weights.h5"
    nested_classifier(keras).save_weights(weights_only)
    with pytest.raises(ModelError, match="holds weights only, not a model"):
        spec_from_file(weights_only)


def test_files_above_the_size_limit_are_refused(saved, monkeypatch):
    files, _, _ = saved
    monkeypatch.setenv("MODEL_MAX_BYTES", "1000")
    for fmt in ("keras", "savedmodel"):
        limit = r"is \d+,\d+ bytes, more than the 1,000 bytes this app loads; raise MODEL_MAX_BYTES"
        with pytest.raises(ModelError, match=limit):
            spec_from_file(files[fmt], labels=LABELS, name="big")


def test_loaded_model_is_shared_and_not_mutated(saved):
    files, pixels, expected = saved
    spec = spec_from_file(files["keras"], labels=LABELS)
    first = load_model(spec)
    assert load_model(spec_from_file(files["keras"], labels=LABELS)) is first
    assert isinstance(first, LoadedModel) and first.model.layers[-1].activation.__name__ == "softmax"
    np.testing.assert_allclose(first.model.predict(pixels, verbose=0), expected, atol=1e-6)
