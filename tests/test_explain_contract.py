"""Every registered method on every bundled model and on a nested transfer-learning model."""

import numpy as np
import pytest
from conftest import method_budget

from core import dataset
from core.catalog import BUNDLED
from core.explain import METHODS, explain, explain_images
from core.scoring import LoadedModel, load_model
from core.spec import ModelSpec


@pytest.fixture(scope="module")
def nested_model(tmp_path_factory):
    """A transfer-learning shape: a base network used as a layer, then pooling and a dense head."""
    import keras

    keras.utils.set_random_seed(3)
    base_input = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(base_input)
    x = keras.layers.Conv2D(12, 3, activation="relu", name="base_features")(x)
    base = keras.Model(base_input, x, name="base_network")
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(base(keras.layers.Rescaling(1 / 255)(inputs)))
    outputs = keras.layers.Dense(1, activation="sigmoid")(pooled)
    spec = ModelSpec(
        "nested",
        tmp_path_factory.mktemp("m") / "nested.keras",
        (32, 32),
        ("other", "dog"),
        "raw",
        "rgb",
        "sigmoid",
        None,
    )
    return LoadedModel(spec, keras.Model(inputs, outputs))


def _models(nested_model):
    return {**{name: load_model(name) for name in BUNDLED}, "nested": nested_model}


def _cases():
    """Every method on every bundled model and the nested one, except the perturbation methods on a bundled model
    whose network and preprocessing an earlier one already has (demo-shortcut is demo-efficientnet's network):
    those methods only run the model forward, so the repeat tests nothing new and costs the suite about 13 s."""
    from core.catalog import get_spec
    from core.explain.registry import Family

    seen = {}
    for model_name in [*BUNDLED, "nested"]:
        spec = get_spec(model_name) if model_name in BUNDLED else None
        same = spec and seen.setdefault((spec.card.get("architecture"), spec.preprocessing), model_name)
        for method in METHODS:
            if same and same != model_name and METHODS[method].family is Family.PERTURBATION:
                reason = f"{method} only runs the model forward, and {same} has the same network"
                yield pytest.param(method, model_name, marks=pytest.mark.skip(reason=reason))
            else:
                yield pytest.param(method, model_name)


@pytest.mark.slow
@pytest.mark.parametrize("method, model_name", list(_cases()))
def test_method_contract(method, model_name, nested_model):
    model = _models(nested_model)[model_name]
    images, _ = dataset.generate_batch(seed=51, count=3)
    pixels = model.spec.resize(list(images))
    original = pixels.copy()
    targets = np.array([1, 0, 1])
    params = method_budget(method)  # the contract is about shapes and invariances, not converged estimates
    maps = explain(model, pixels, targets, method, {**params, "batch_size": 2})
    assert maps.shape == (3, *model.spec.input_size) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and np.abs(maps).max() > 0
    np.testing.assert_array_equal(pixels, original)  # the input is not mutated
    one_at_a_time = explain(model, pixels, targets, method, {**params, "batch_size": 1})
    np.testing.assert_allclose(one_at_a_time, maps, rtol=1e-3, atol=1e-5 * np.abs(maps).max())
    again = explain(model, pixels, targets, method, {**params, "batch_size": 2})
    np.testing.assert_allclose(again, maps, rtol=1e-4, atol=1e-6 * np.abs(maps).max())  # fixed seed, same map


def test_explain_images_fits_the_box_in_the_given_images_coordinates(bundled_models):
    dog = dataset.generate(52, 0)
    big = np.repeat(np.repeat(dog.pixels, 2, axis=0), 2, axis=1)  # 320x320: twice the model's input size
    result = explain_images(bundled_models["demo-resnet"], [big], "gradcam")[0]
    assert result.map.shape == (160, 160) and result.target_label in dataset.LABELS
    x0, y0, x1, y1 = result.fit.box
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 320
    assert result.fit.centroid[0] > 0 and result.seconds > 0


def test_integrated_gradients_reports_its_completeness_error(bundled_models):
    dog = dataset.generate(53, 1)
    result = explain_images(
        bundled_models["demo-efficientnet"], [dog.pixels], "integrated-gradients", params={"steps": 64}
    )[0]
    assert 0 <= result.diagnostics["completeness_error"] < 0.1  # 64 steps: the map sums to the score gain
