"""Known answers for SHAP (Partition, expected gradients) and LIME on small hand-built Keras models."""

import numpy as np
import pytest
from conftest import linear_model, method_budget

from core.explain import METHODS, explain
from core.explain.perturbation import (
    clear_segment_cache,
    grey_references,
    lime,
    lime_segments,
    shap_gradient,
    shap_partition,
)
from core.scoring import LoadedModel
from core.spec import ModelSpec


def _loaded(model, tmp_path, size=(8, 8), color="rgb", output="sigmoid"):
    spec = ModelSpec("hand-built", tmp_path / "x.keras", size, ("no", "yes"), "raw", color, output)
    return LoadedModel(spec, model)


def _dense_on(keras, inputs, features, weights, bias=0.0):
    """Sigmoid of one dense unit with the given weights on `features` (a Keras tensor of `inputs`)."""
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(dense(keras.layers.Flatten()(features))))
    dense.set_weights([weights.reshape(-1, 1).astype(np.float32), np.array([bias], np.float32)])
    return model


def _linear16(keras, weights, bias=0.0):
    inputs = keras.Input((16, 16, 3))
    return _dense_on(keras, inputs, inputs, weights, bias)


def _small_convnet(keras, channels=3):
    keras.utils.set_random_seed(11)
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.Conv2D(4, 3, activation="tanh")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Activation("sigmoid")(x))


def _rows(maps):
    return maps.reshape(len(maps), -1)


def test_shap_partition_of_a_linear_model_sums_to_the_score_change_from_the_blurred_image(keras, tmp_path):
    import cv2

    weights = np.random.default_rng(0).normal(size=(8, 8, 3)).astype(np.float32) / 50
    loaded = _loaded(linear_model(keras, weights, 0.3), tmp_path)
    # Many images in one call: shap's blur cache once mixed two images up (a map off by 14 %).
    pixels = np.random.default_rng(1).uniform(0, 255, (12, 8, 8, 3)).astype(np.float32)
    ones = np.ones(12, np.int32)
    maps = shap_partition(loaded, pixels, ones, max_evals=64, blur=4)
    # Fully masked is what the masker shows when every patch is hidden: the box-blurred image.
    blurred = np.stack([cv2.blur(image, (4, 4)) for image in pixels])
    gain = loaded.scores(pixels)[:, 1] - loaded.scores(blurred)[:, 1]
    np.testing.assert_allclose(_rows(maps).sum(axis=1), gain, rtol=1e-4, atol=1e-4)
    assert np.abs(gain).min() > 0.5  # the check is not 0 ≈ 0
    # Class 0's score is −S: Owen values are linear in the scored function.
    np.testing.assert_allclose(shap_partition(loaded, pixels, 0 * ones, max_evals=64, blur=4), -maps, atol=1e-6)
    again = shap_partition(loaded, pixels, ones, max_evals=64, blur=4)
    np.testing.assert_allclose(again, maps, rtol=1e-6, atol=1e-6)  # the same up to float rounding in the model


def test_shap_partition_puts_the_attribution_inside_the_only_patch_with_weights(keras, tmp_path):
    rng = np.random.default_rng(2)
    weights = np.zeros((16, 16, 3), np.float32)
    weights[4:8, 8:12] = rng.uniform(0.01, 0.03, (4, 4, 3))
    loaded = _loaded(_linear16(keras, weights), tmp_path, (16, 16))
    pixels = rng.uniform(0, 60, (1, 16, 16, 3)).astype(np.float32)
    pixels[:, 4:8, 8:12] = rng.uniform(200, 255, (1, 4, 4, 3))  # brighter than its blur: positive evidence
    maps = shap_partition(loaded, pixels, np.array([1]), max_evals=64, blur=8)
    inside = np.zeros((16, 16), bool)
    inside[4:8, 8:12] = True
    assert np.abs(maps[0][inside]).sum() / np.abs(maps[0]).sum() > 0.99
    assert maps[0][inside].min() > 0


def test_shap_gradient_of_a_linear_model_is_input_minus_reference_times_weights(keras, tmp_path):
    weights = np.random.default_rng(3).normal(size=(8, 8, 3)).astype(np.float32)
    loaded = _loaded(linear_model(keras, weights, 0.0), tmp_path)
    pixels = np.random.default_rng(4).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    # One reference, black: the gradient is W everywhere, so every sample gives x · W exactly.
    black = shap_gradient(loaded, pixels, np.array([1, 1]), samples=4, background=1, seed=5)
    np.testing.assert_allclose(black, (pixels * weights).sum(axis=-1), rtol=1e-4, atol=1e-3)
    # Grey levels 0..255 evenly spaced: the expected reference is mid-grey.
    assert grey_references((8, 8, 3), 8).mean() == pytest.approx(127.5)
    expected = ((pixels - 127.5) * weights).sum(axis=-1)
    greys = shap_gradient(loaded, pixels, np.array([1, 1]), samples=1000, background=8, seed=5)
    assert np.linalg.norm(greys - expected) / np.linalg.norm(expected) < 0.1
    assert np.linalg.norm(black - expected) / np.linalg.norm(expected) > 0.5  # the references matter
    np.testing.assert_allclose(
        greys, shap_gradient(loaded, pixels, np.array([1, 1]), samples=1000, background=8, seed=5), rtol=1e-5
    )
    assert not np.allclose(greys, shap_gradient(loaded, pixels, np.array([1, 1]), samples=1000, background=8, seed=6))


def _region_brightness(keras):
    """16x16x3 -> mean over the top-left 8x8 of relu(x − 128): how bright the region is above mid-grey.
    Convex, so replacing a superpixel inside the region by its mean colour can only lower the score
    (a score linear in the pixels would not move: the mean colour keeps the region's sum)."""
    inputs = keras.Input((16, 16, 3))
    above = keras.layers.ReLU()(keras.layers.Rescaling(1.0, offset=-128.0)(inputs))
    weights = np.zeros((16, 16, 3), np.float32)
    weights[:8, :8] = 1 / (8 * 8 * 3)
    return _dense_on(keras, inputs, above, weights)


def test_lime_gives_the_largest_weights_to_superpixels_inside_the_scored_region(keras, tmp_path):
    loaded = _loaded(_region_brightness(keras), tmp_path, (16, 16))
    pixels = np.random.default_rng(7).integers(0, 256, (1, 16, 16, 3)).astype(np.float32)
    maps = lime(loaded, pixels, np.array([1]), num_samples=64, segmentation="slic", segments=16, seed=0)
    labels = lime_segments(pixels[0].astype(np.uint8), 16, "slic")
    region = np.zeros((16, 16), bool)
    region[:8, :8] = True
    weight = np.array([maps[0][labels == k][0] for k in range(labels.max() + 1)])
    share = np.array([region[labels == k].mean() for k in range(labels.max() + 1)])
    for k in range(labels.max() + 1):  # one weight per superpixel
        np.testing.assert_array_equal(maps[0][labels == k], weight[k])
    assert (share > 0.9).any() and (share == 0).any()
    assert weight[share > 0.9].min() > 0
    assert weight[share > 0.9].min() > 5 * np.abs(weight[share == 0]).max()
    ranked = np.argsort(-weight)[: (share > 0.9).sum()]
    assert share[ranked].min() > 0.5  # the top weights are all mostly in the region
    np.testing.assert_allclose(
        maps, lime(loaded, pixels, np.array([1]), num_samples=64, segmentation="slic", segments=16, seed=0), rtol=1e-5
    )
    against = lime(loaded, pixels, np.array([0]), num_samples=64, segmentation="slic", segments=16, seed=0)
    np.testing.assert_allclose(against, -maps, atol=1e-6 * np.abs(maps).max())


def test_lime_segments_are_deterministic_numbered_from_zero_and_about_as_many_as_asked():
    image = np.random.default_rng(8).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    labels = lime_segments(image, 16, "slic")
    assert labels.shape == (32, 32) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert 8 <= labels.max() + 1 <= 32
    clear_segment_cache()  # the segmenter itself repeats, not just the cache
    np.testing.assert_array_equal(labels, lime_segments(image.copy(), 16, "slic"))
    grey = image[..., :1]
    np.testing.assert_array_equal(
        lime_segments(grey, 16, "slic"), lime_segments(np.repeat(grey, 3, axis=-1), 16, "slic")
    )
    np.testing.assert_array_equal(lime_segments(grey, 16, "slic"), lime_segments(grey[..., 0], 16, "slic"))


# The shared test budgets, with settings that make these small images quick to mask and segment.
BUDGETS = {
    "shap": {**method_budget("shap"), "blur": 4},
    "shap-gradient": method_budget("shap-gradient"),
    "lime": {**method_budget("lime"), "segmentation": "slic", "segments": 8},
}


@pytest.mark.parametrize("method", list(BUDGETS))
@pytest.mark.parametrize("channels", [3, 1])
def test_perturbation_maps_are_finite_float32_per_image_and_leave_the_input_alone(keras, tmp_path, method, channels):
    loaded = _loaded(_small_convnet(keras, channels), tmp_path, color="rgb" if channels == 3 else "grayscale")
    pixels = np.random.default_rng(9).uniform(0, 255, (3, 8, 8, channels)).astype(np.float32)
    copy = pixels.copy()
    targets = np.array([1, 0, 1])
    maps = explain(loaded, pixels, targets, method, {**BUDGETS[method], "batch_size": 1})
    assert maps.shape == (3, 8, 8) and maps.dtype == np.float32 and np.isfinite(maps).all()
    assert np.abs(maps).max() > 0
    np.testing.assert_array_equal(pixels, copy)
    larger = explain(loaded, pixels, targets, method, {**BUDGETS[method], "batch_size": 7})
    np.testing.assert_allclose(larger, maps, rtol=1e-4, atol=1e-6 * np.abs(maps).max())
    # Each image's map depends on that image alone, not on the others in the call.
    alone = explain(loaded, pixels[1:2], targets[1:2], method, {**BUDGETS[method], "batch_size": 7})
    np.testing.assert_allclose(alone[0], maps[1], rtol=1e-4, atol=1e-6 * np.abs(maps).max())


def test_perturbation_methods_are_registered_with_their_costs():
    assert {name: METHODS[name].signed for name in BUDGETS} == {"shap": True, "shap-gradient": True, "lime": True}
    assert METHODS["shap-gradient"].needs_gradients and not METHODS["lime"].needs_gradients
    assert [METHODS[name].evaluations(METHODS[name].defaults) for name in BUDGETS] == [300, 50, 300]
    # The cost in forward passes: expected gradients' 50 forward and backward passes count three forwards each.
    assert [METHODS[name].passes(METHODS[name].defaults) for name in BUDGETS] == [300, 150, 300]


def test_quickshift_segments_repeat_with_a_seed_and_number_from_zero():
    from core import dataset

    image = dataset.generate(7, 1).pixels
    labels = lime_segments(image, segmentation="quickshift", seed=0)
    clear_segment_cache()  # the segmenter itself repeats, not just the cache
    np.testing.assert_array_equal(labels, lime_segments(image.copy(), segmentation="quickshift", seed=0))
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert 10 <= labels.max() + 1 <= 60  # lime's settings give tens of regions on a 160-pixel image


def test_cached_segments_are_per_content_and_settings_and_cannot_be_changed_through_a_result():
    image = np.random.default_rng(4).integers(0, 256, (24, 24, 3)).astype(np.uint8)
    first = lime_segments(image, 12, "slic")
    first[:] = -1  # a caller scribbling on its result
    again = lime_segments(image.copy(), 12, "slic")
    assert again.min() == 0
    clear_segment_cache()
    np.testing.assert_array_equal(again, lime_segments(image, 12, "slic"))
    other = image.copy()
    other[:12] = 255 - other[:12]
    assert not np.array_equal(lime_segments(other, 12, "slic"), again)
    assert lime_segments(image, 6, "slic").max() < again.max()  # the number of segments is part of the key


def test_vectorised_lime_sampler_gives_exactly_limes_own_maps(keras, tmp_path, monkeypatch):
    from lime.lime_image import LimeImageExplainer

    from core.explain import perturbation

    loaded = _loaded(_small_convnet(keras), tmp_path)
    pixels = np.random.default_rng(9).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    params = dict(num_samples=40, segmentation="slic", segments=8, seed=3)
    ours = lime(loaded, pixels, np.array([1, 0]), **params)
    monkeypatch.setattr(perturbation, "_lime_explainer", lambda seed: LimeImageExplainer(random_state=seed))
    np.testing.assert_allclose(ours, lime(loaded, pixels, np.array([1, 0]), **params), rtol=1e-5)
    assert np.abs(ours).max() > 0


def test_fast_blur_masker_masks_exactly_like_shaps_own():
    import shap

    from core.explain.perturbation import _blur_masker

    rng = np.random.default_rng(3)
    shape = (12, 10, 3)
    ours, theirs = _blur_masker(4, shape), shap.maskers.Image("blur(4,4)", shape)
    np.testing.assert_array_equal(ours.clustering, theirs.clustering)
    np.testing.assert_array_equal(_blur_masker(4, shape).clustering, theirs.clustering)  # from the cache
    for image in rng.uniform(0, 255, (2, *shape)).astype(np.float32):
        theirs = shap.maskers.Image("blur(4,4)", shape)  # one per image: its blur cache can mix images up
        for mask in (rng.random(image.size) < 0.5, np.ones(image.size, bool), np.zeros(image.size, bool)):
            (masked,), (expected,) = ours(mask, image), theirs(mask, image)
            assert masked.dtype == expected.dtype and masked.shape == expected.shape == (1, *shape)
            np.testing.assert_array_equal(masked, expected)
