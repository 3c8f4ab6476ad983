"""Known answers for the gradient methods on small hand-built Keras models."""

import numpy as np
from conftest import linear_model

from core.explain import METHODS, explain
from core.explain.gradcam import class_activation_maps
from core.explain.saliency import completeness_error, integrated_gradients, saliency, smoothgrad
from core.scoring import LoadedModel
from core.spec import ModelSpec


def _loaded(model, tmp_path, size=(8, 8), color="rgb", labels=("no", "yes"), output="sigmoid", layer=None):
    spec = ModelSpec("hand-built", tmp_path / "x.keras", size, labels, "raw", color, output, layer)
    return LoadedModel(spec, model)


def _captum_convnet(keras):
    """4x4 one-channel input -> 3x3 conv of ones, biases (-50, -75) -> global average pool -> dense (3, -2)."""
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(2, 3, name="conv")
    pooled = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    dense = keras.layers.Dense(1, name="logit")
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(dense(pooled)))
    conv.set_weights([np.ones((3, 3, 1, 2), np.float32), np.array([-50, -75], np.float32)])
    dense.set_weights([np.array([[3], [-2]], np.float32), np.zeros(1, np.float32)])
    return model


ARANGE = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)


def test_saliency_of_a_linear_model_is_abs_weights_max_over_channels(keras, tmp_path):
    weights = np.random.default_rng(0).normal(size=(8, 8, 3)).astype(np.float32)
    loaded = _loaded(linear_model(keras, weights, 0.3), tmp_path)
    pixels = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)
    expected = np.abs(weights).max(axis=-1)
    for target in (0, 1):  # the other-class score is -S: the same magnitudes
        maps = saliency(loaded, pixels, np.full(3, target))
        np.testing.assert_allclose(maps, np.broadcast_to(expected, maps.shape), rtol=1e-5)


def test_gradcam_of_the_captum_convnet_is_the_hand_computed_map(keras, tmp_path):
    loaded = _loaded(_captum_convnet(keras), tmp_path, (4, 4), "grayscale", layer="conv")
    cam = class_activation_maps(loaded, ARANGE, np.array([1]), resize=False)
    np.testing.assert_allclose(cam[0], [[11.25, 13.5], [20.25, 22.5]], rtol=1e-5)


def test_gradcam_plus_plus_of_the_captum_convnet_is_the_hand_computed_map(keras, tmp_path):
    # g = 3/4 on channel 1 (sum of A = 70), -2/4 on channel 2 (no positive gradient, weight 0):
    # alpha = g² / (2g² + 70 g³) = 0.5625 / 30.65625; w1 = 4 · alpha · 0.75.
    loaded = _loaded(_captum_convnet(keras), tmp_path, (4, 4), "grayscale", layer="conv")
    w1 = 4 * (0.5625 / 30.65625) * 0.75
    expected = np.maximum(w1 * np.array([[-5.0, 4.0], [31.0, 40.0]]), 0)
    cam = class_activation_maps(loaded, ARANGE, np.array([1]), plus_plus=True, resize=False)
    np.testing.assert_allclose(cam[0], expected, rtol=1e-5)


def test_gradcam_on_a_nested_base_model_equals_the_flat_model(keras, tmp_path):
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    base_in = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(6, 3, activation="relu", name="features")(keras.layers.Conv2D(4, 3)(base_in))
    base = keras.Model(base_in, features, name="base")
    outer_in = keras.Input((16, 16, 3))
    head = keras.layers.Dense(1, name="logit")
    pooled = keras.layers.GlobalAveragePooling2D()(base(keras.layers.Rescaling(1 / 255)(outer_in)))
    nested = keras.Model(outer_in, keras.layers.Activation("sigmoid")(head(pooled)))
    flat_in = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(flat_in)
    for layer in base.layers[1:]:
        x = layer(x)
    flat = keras.Model(flat_in, keras.layers.Activation("sigmoid")(head(keras.layers.GlobalAveragePooling2D()(x))))
    pixels = rng.uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    # One class or the other has positive evidence (the score of one is minus the other's).
    nested_map = explain(_loaded(nested, tmp_path, (16, 16), layer="features"), pixels, [1, 0], "gradcam")
    flat_map = explain(_loaded(flat, tmp_path, (16, 16), layer="features"), pixels, [1, 0], "gradcam")
    assert nested_map.shape == (2, 16, 16) and nested_map.max() > 0
    np.testing.assert_allclose(nested_map, flat_map, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_of_a_linear_model_is_input_times_weights(keras, tmp_path):
    weights = np.random.default_rng(3).normal(size=(8, 8, 3)).astype(np.float32)
    loaded = _loaded(linear_model(keras, weights, 0.0), tmp_path)
    pixels = np.random.default_rng(4).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    maps = integrated_gradients(loaded, pixels, np.array([1, 1]), steps=4)
    np.testing.assert_allclose(maps, (pixels * weights).sum(axis=-1), rtol=1e-4, atol=1e-3)


def test_integrated_gradients_is_complete_on_a_nonlinear_model(keras, tmp_path):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="tanh")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    loaded = _loaded(keras.Model(inputs, keras.layers.Activation("sigmoid")(x)), tmp_path)
    pixels = np.random.default_rng(6).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    maps = integrated_gradients(loaded, pixels, np.array([1, 0]), steps=128)
    assert completeness_error(loaded, pixels, np.array([1, 0]), maps).max() < 0.01
    coarse = integrated_gradients(loaded, pixels, np.array([1, 0]), steps=2)
    assert completeness_error(loaded, pixels, np.array([1, 0]), coarse).max() > 1e-4  # the check can fail


def test_smoothgrad_without_noise_is_saliency_and_a_seed_fixes_it(keras, tmp_path):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Conv2D(3, 3, activation="relu")(inputs)))
    loaded = _loaded(keras.Model(inputs, keras.layers.Activation("sigmoid")(x)), tmp_path)
    pixels = np.random.default_rng(8).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        smoothgrad(loaded, pixels, np.array([1, 1]), samples=3, noise=0.0),
        saliency(loaded, pixels, np.array([1, 1])),
        rtol=1e-5,
    )
    first = smoothgrad(loaded, pixels, np.array([1, 1]), samples=4, seed=1)
    np.testing.assert_allclose(first, smoothgrad(loaded, pixels, np.array([1, 1]), samples=4, seed=1), rtol=1e-5)
    assert not np.allclose(first, smoothgrad(loaded, pixels, np.array([1, 1]), samples=4, seed=2))


def test_every_registered_method_costs_at_least_one_pass_and_more_with_a_bigger_budget():
    for method in METHODS.values():
        assert method.passes(method.defaults) >= 1
        budgets = [p for p in method.parameters if p.name in ("samples", "steps", "max_evals", "num_samples")]
        for budget in budgets:
            assert method.passes(
                {**method.defaults, budget.name: 2 * method.defaults[budget.name]}
            ) == 2 * method.passes(method.defaults)


def test_smoothgrad_and_integrated_gradients_hold_a_bounded_number_of_rows_and_give_the_same_maps(
    keras, tmp_path, monkeypatch
):
    """However many noisy copies or path points are asked for, at most ROWS_AT_ONCE are in memory (a session asking
    for thousands must not take the server's memory), and the maps are those of all the rows at once: chunks
    that cut across images, with the noise drawn chunk by chunk, change nothing."""
    import importlib

    module = importlib.import_module("core.explain.saliency")
    keras.utils.set_random_seed(9)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Conv2D(3, 3, activation="tanh")(inputs)))
    loaded = _loaded(keras.Model(inputs, keras.layers.Activation("sigmoid")(x)), tmp_path)
    pixels = np.random.default_rng(10).uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)
    targets = np.array([1, 0, 1])
    whole = {
        "smoothgrad": smoothgrad(loaded, pixels, targets, samples=7, seed=3),
        "ig": integrated_gradients(loaded, pixels, targets, steps=7, baseline="grey"),
    }
    held = []
    original = module.input_gradients
    monkeypatch.setattr(module, "input_gradients", lambda m, rows, *a: held.append(len(rows)) or original(m, rows, *a))
    monkeypatch.setattr(module, "ROWS_AT_ONCE", 5)  # 21 rows of three images: chunks of 5 cut across images
    chunked = {
        "smoothgrad": smoothgrad(loaded, pixels, targets, samples=7, seed=3),
        "ig": integrated_gradients(loaded, pixels, targets, steps=7, baseline="grey"),
    }
    assert held == [5, 5, 5, 5, 1] * 2
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-5, atol=1e-6 * np.abs(whole[name]).max())
    # The test can fail: another seed draws other noise.
    assert not np.allclose(smoothgrad(loaded, pixels, targets, samples=7, seed=4), whole["smoothgrad"])
