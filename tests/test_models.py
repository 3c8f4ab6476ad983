import numpy as np
import pytest
from conftest import linear_model

from core.catalog import BUNDLED, get_spec, known_models
from core.errors import ModelError
from core.scoring import LoadedModel, load_model, probabilities_from_scores
from core.spec import ModelSpec


def _spec(tmp_path, **overrides) -> ModelSpec:
    values = dict(
        name="tiny",
        path=tmp_path / "tiny.keras",
        input_size=(8, 8),
        labels=("no", "yes"),
        preprocessing="raw",
        output="sigmoid",
    )
    values.update(overrides)
    return ModelSpec(**values)


@pytest.mark.parametrize("head", ["activation", "dense"])
def test_sigmoid_model_scores_are_minus_and_plus_the_logit(keras, tmp_path, head):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(8, 8, 3)).astype(np.float32) * 0.1
    model = linear_model(keras, weights, bias=0.25, head=head)
    loaded = LoadedModel(_spec(tmp_path), model)
    images = rng.uniform(0, 1, (5, 8, 8, 3)).astype(np.float32)
    logit = (images.reshape(5, -1) @ weights.reshape(-1)) + 0.25
    np.testing.assert_allclose(loaded.scores(images), np.stack([-logit, logit], axis=1), rtol=1e-5, atol=1e-5)
    probability = model.predict(images, verbose=0)[:, 0]
    np.testing.assert_allclose(loaded.probabilities(images)[:, 1], probability, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.probabilities(images).sum(axis=1), 1.0, rtol=1e-6)


def test_deriving_scores_does_not_change_the_loaded_model(keras, tmp_path):
    weights = np.full((8, 8, 3), 0.05, np.float32)
    model = linear_model(keras, weights, bias=-1.0, head="dense")
    images = np.ones((2, 8, 8, 3), np.float32)
    before = model.predict(images, verbose=0)
    LoadedModel(_spec(tmp_path), model)
    assert model.layers[-1].activation.__name__ == "sigmoid"
    np.testing.assert_allclose(model.predict(images, verbose=0), before)
    assert 0 < before[0, 0] < 1  # still a probability, not a raw score


def test_softmax_model_scores_are_the_logits(keras, tmp_path):
    inputs = keras.Input((8, 8, 3))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((192, 3), np.float32)
    kernel[0] = [1.0, 2.0, 3.0]
    dense.set_weights([kernel, np.array([0.5, 0.0, -0.5], np.float32)])
    loaded = LoadedModel(_spec(tmp_path, labels=("a", "b", "c"), output="softmax"), model)
    images = np.zeros((1, 8, 8, 3), np.float32)
    images[0, 0, 0, 0] = 2.0
    np.testing.assert_allclose(loaded.scores(images), [[2.5, 4.0, 5.5]], rtol=1e-6)
    np.testing.assert_allclose(loaded.probabilities(images), model.predict(images, verbose=0), rtol=1e-5)


def test_batch_size_does_not_change_scores(keras, tmp_path):
    model = linear_model(keras, np.linspace(-1, 1, 192, dtype=np.float32), bias=0.1)
    loaded = LoadedModel(_spec(tmp_path), model)
    images = np.random.default_rng(1).uniform(0, 1, (7, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.scores(images, batch_size=1), loaded.scores(images, batch_size=7), atol=1e-4)


def test_probabilities_from_scores_inverts_both_output_kinds():
    np.testing.assert_allclose(probabilities_from_scores(np.array([[-0.0, 0.0]]), "sigmoid"), [[0.5, 0.5]])
    sigmoid = probabilities_from_scores(np.array([[-2.0, 2.0]]), "sigmoid")
    np.testing.assert_allclose(sigmoid[0, 1], 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    softmax = probabilities_from_scores(np.array([[1000.0, 1000.0, 0.0]]), "logits")
    np.testing.assert_allclose(softmax, [[0.5, 0.5, 0.0]], atol=1e-7)


def test_resize_gives_model_sized_pixels_in_the_colour_mode(tmp_path):
    image = np.zeros((40, 20, 3), np.uint8)
    image[:, :, 0] = 255
    rgb = _spec(tmp_path).resize([image])
    assert rgb.shape == (1, 8, 8, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, :, :, 0], 255.0)
    np.testing.assert_allclose(rgb[0, :, :, 1:], 0.0)
    grey = _spec(tmp_path, colour_mode="grayscale").resize([image])
    assert grey.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(grey, round(255 * 299 / 1000), atol=1)  # ITU-R 601 luma of pure red


def test_preprocessing_is_applied_inside_the_model(keras, tmp_path):
    model = linear_model(keras, np.full((8, 8, 3), 1 / 192, np.float32), bias=0.0)
    pixels = np.full((1, 8, 8, 3), 255.0, np.float32)
    raw = LoadedModel(_spec(tmp_path), model).scores(pixels)[0, 1]
    symmetric = LoadedModel(_spec(tmp_path, preprocessing="symmetric"), model).scores(pixels)[0, 1]
    unit = LoadedModel(_spec(tmp_path, preprocessing="unit"), model).scores(pixels)[0, 1]
    np.testing.assert_allclose([raw, symmetric, unit], [255.0, 1.0, 1.0], rtol=1e-5)


def test_the_bundled_models_are_known_ready_and_described():
    specs = known_models()
    assert list(specs)[: len(BUNDLED)] == list(BUNDLED) and len(BUNDLED) == 3
    for name in BUNDLED:
        spec = specs[name]
        assert spec.ready and spec.input_size == (160, 160) and spec.labels == ("other dog", "dachshund")
        assert spec.output == "sigmoid" and spec.gradcam_layer
        assert spec.card["validation_accuracy"] >= 0.95 and spec.card["validation_images"] >= 1000
        assert spec.card["parameters"] < 5_000_000


def test_bundled_models_load_once_and_share_the_same_object(bundled_models):
    for name, model in bundled_models.items():
        assert load_model(name) is model
        assert len(model.model.get_layer(model.spec.gradcam_layer).output.shape) == 4  # Grad-CAM needs a spatial map


def test_unknown_model_name_is_one_clear_sentence():
    with pytest.raises(ModelError, match="no model called 'resnet9000'.*demo-resnet"):
        get_spec("resnet9000")


def test_missing_weights_and_broken_files_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        load_model(_spec(tmp_path, name="absent"))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"this is not a zip file")
    with pytest.raises(ModelError, match="broken.keras could not be loaded"):
        load_model(_spec(tmp_path, name="broken", path=broken))
