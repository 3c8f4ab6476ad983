"""Whether an image is familiar to a model: the confidence floor and the feature distance and its ceiling worked out
by hand, the general rule, the bundled models' calibrations and what they flag."""

import json
import shutil

import numpy as np
import pytest

from core import dataset
from core.__main__ import main
from core.familiarity import (
    Calibration,
    assess,
    calibrate,
    calibration_of,
    general_rule,
    top_probability,
    write_to_card,
)
from core.images import encode_png


def _binary_rows(tops: np.ndarray) -> np.ndarray:
    """(N, 2) probabilities whose top class holds `tops`, the winner alternating between the two classes."""
    rows = np.stack([1 - tops, tops], axis=1)
    rows[1::2] = rows[1::2, ::-1]
    return rows


def test_the_floor_is_the_fifth_percentile_of_the_top_class_probability():
    # 101 images whose top class holds 0.500, 0.505, …, 1.000: the 5th percentile sits at position 5, 0.525.
    calibration = calibrate(_binary_rows(np.linspace(0.5, 1.0, 101)), "hand-made rows")
    assert calibration.floor == pytest.approx(0.525)
    assert (calibration.images, calibration.share_below, calibration.measured) == (101, 0.05, True)


def test_top_probability_takes_the_winner_whichever_class_it_is():
    rows = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(top_probability(rows), [0.7, 0.6, 0.6])


def test_below_the_floor_is_unusual_and_the_sentence_says_against_what():
    card = {"familiarity": Calibration(0.525, 0.05, 101, "hand-made pictures").as_card()}
    unsure, sure = assess(0.52, card, 2), assess(0.53, card, 2)
    assert not unsure.familiar and sure.familiar
    assert unsure.label == "unusually unsure" and sure.label == "as sure as usual"
    assert unsure.short() == "Unusually unsure (usually at least 52.5%)"
    assert unsure.sentence("demo") == (
        "Unusually unsure: demo is 52.0% sure, while on 101 hand-made pictures, 95% of its answers were at least "
        "52.5% sure. The image may be unlike anything it was trained on: read this prediction with care."
    )
    assert sure.sentence("demo").startswith("demo is 53% sure; on 101 hand-made pictures, 95% of its answers")
    assert assess(0.9, card, 2).sentence("demo").endswith("at least 52% sure.")
    assert unsure.as_json() == {
        "familiar": False,
        "usual_floor": 0.525,
        "feature_distance": None,
        "usual_distance_ceiling": None,
    }


def test_a_model_without_calibration_gets_halfway_between_a_blind_guess_and_certainty():
    assert general_rule(2).floor == pytest.approx(0.75)
    assert general_rule(3).floor == pytest.approx(2 / 3)
    assert general_rule(1000).floor == pytest.approx(0.5005)
    assert not general_rule(19).measured
    verdict = assess(0.6, {}, 3)
    assert verdict.familiar is False and verdict.calibration == general_rule(3)
    assert "blind guess among 3 classes (33%) and certainty: 67%" in verdict.sentence("pets")
    assert calibration_of({"familiarity": {"floor": "high"}}, 3) == general_rule(3)  # a broken card entry


def test_bundled_models_carry_their_calibration_on_the_validation_pictures(bundled_models):
    from core.familiarity import feature_calibration_of, feature_layer

    for name, model in bundled_models.items():
        calibration = calibration_of(model.spec.card, 2)
        assert calibration.measured and calibration.images == 1000 and calibration.share_below == 0.05
        assert 0.5 < calibration.floor < 1 and "set 2" in calibration.detail
        # The feature calibration: a small file beside the model, named in its card, for the head's input layer.
        entry = model.spec.card["feature_familiarity"]
        assert entry == {"file": f"{name}.familiarity.npz", "layer": feature_layer(model.model)}
        assert (model.spec.path.parent / entry["file"]).stat().st_size < 300_000
        usual = feature_calibration_of(model).usual
        assert (usual.images, usual.fitted_on, usual.share_above, usual.layer) == (1000, 1000, 0.05, entry["layer"])
        assert usual.ceiling > 0 and "set 2" in usual.detail and "set 1" in usual.fitted_detail


def _sample_verdicts(model) -> dict:
    """Each sample's name and the model's familiarity verdict on it, from one classify pass."""
    from core.classify import classify
    from core.familiarity import assess_predictions
    from core.samples import sample_images

    samples = sample_images()
    rankings = classify(model, [s.image.pixels for s in samples], 1)
    return {s.image.name: assess_predictions(r, model.spec) for s, r in zip(samples, rankings, strict=True)}


def test_bundled_models_flag_photos_and_none_of_the_generated_samples(bundled_models):
    photos = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.png")
    for name, model in bundled_models.items():
        verdicts = _sample_verdicts(model)
        assert all(v.familiar for sample, v in verdicts.items() if sample not in photos), name
    # Numbers in docs/methods.md ("Unfamiliar images"); python -m benchmarks.familiarity prints them.
    resnet = _sample_verdicts(bundled_models["demo-resnet"])
    assert [resnet[p].near for p in photos] == [False] * 4  # every photo far from its pictures
    efficientnet = _sample_verdicts(bundled_models["demo-efficientnet"])
    cat = efficientnet["chelsea.png"]
    assert cat.sure and not cat.near and cat.confidence > 0.95  # the confident mistake the distance catches
    assert [efficientnet[p].familiar for p in photos] == [False, False, True, False]  # the astronaut slips through


def test_the_shortcut_model_is_sure_of_every_photo_and_only_the_distance_flags_some(bundled_models):
    from core.samples import sample_images

    shortcut = bundled_models["demo-shortcut"]
    samples = sample_images()
    probabilities = shortcut.probabilities(shortcut.spec.resize([s.image.pixels for s in samples]))
    # No logo anywhere: "other dog" for every picture, dachshunds and photos alike, and as sure as usual. Confidence
    # cannot catch a model that is confidently wrong (docs/methods.md, "Unfamiliar images").
    assert (probabilities.argmax(axis=1) == 0).all()
    assert all(assess(p.max(), shortcut.spec.card, 2).familiar for p in probabilities)
    # Its features place the coffee cup and the astronaut far from its pictures; the cat and the rocket not.
    verdicts = _sample_verdicts(shortcut)
    assert [verdicts[p].near for p in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.png")] == [
        True,
        False,
        False,
        True,
    ]


@pytest.mark.slow
def test_calibrate_command_measures_generated_pictures_and_writes_the_card(tmp_path, capsys):
    from core.spec import MODELS_DIR

    for suffix in (".keras", ".json"):
        shutil.copy(MODELS_DIR / f"demo-efficientnet{suffix}", tmp_path / f"copy{suffix}")
    card = tmp_path / "copy.json"
    model = str(tmp_path / "copy.keras")
    assert main(["calibrate", "--model", model, "--count", "20", "--seed", "5", "--fit-count", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == 20 and "set 5" in printed["detail"] and 0.5 <= printed["floor"] <= 1
    assert printed["features"] is None  # --fit-count 0: no feature calibration
    assert json.loads(card.read_text())["familiarity"]["images"] == 1000  # not written without --write
    assert main(["calibrate", "--model", model, "--count", "20", "--fit-count", "30", "--write"]) == 0
    printed = json.loads(capsys.readouterr().out)["features"]
    assert (printed["images"], printed["fitted_on"], printed["layer"]) == (20, 30, "top_dropout")
    written = json.loads(card.read_text())
    assert written["familiarity"]["images"] == 20 and written["labels"] == ["other dog", "dachshund"]
    assert written["feature_familiarity"] == {"file": "copy.familiarity.npz", "layer": "top_dropout"}
    assert printed["file"] == str(tmp_path / "copy.familiarity.npz")
    # classify reads it back: the distance and the ceiling in each line. (This process loaded the model before its
    # card changed, and keeps a loaded model as it was loaded: unloaded here, as a new process would start.)
    from core.scoring import unload
    from core.spec import spec_from_file

    unload(spec_from_file(model))
    image = tmp_path / "dog.png"
    image.write_bytes(encode_png(dataset.generate(5, 0).pixels))
    assert main(["classify", "--model", model, str(image)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["usual_distance_ceiling"] == round(printed["ceiling"], 4) and line["feature_distance"] > 0


def test_write_to_card_keeps_the_rest_of_the_card(tmp_path):
    card = tmp_path / "m.json"
    card.write_text(json.dumps({"labels": ["a", "b"], "familiarity": {"floor": 0.1}}))
    write_to_card(card, Calibration(0.81234, 0.05, 7, "seven pictures"))
    assert json.loads(card.read_text()) == {
        "labels": ["a", "b"],
        "familiarity": {"floor": 0.8123, "share_below": 0.05, "images": 7, "source": "seven pictures", "detail": ""},
    }


def test_a_model_trained_with_a_cue_is_calibrated_on_pictures_with_that_cue(bundled_models):
    from core.familiarity import calibrate_on_generated

    shortcut = bundled_models["demo-shortcut"]
    assert shortcut.spec.card["cue"] == "dachshund"
    calibration, features = calibrate_on_generated(shortcut, seed=5, count=16, fit_count=12)
    assert calibration.images == 16 and calibration.detail.endswith("with the dachshund cue")
    assert features.usual.fitted_detail.endswith("set 1 of core/dataset.py, with the dachshund cue")
    calibration, features = calibrate_on_generated(bundled_models["demo-efficientnet"], seed=5, count=4)
    assert "cue" not in calibration.detail and features is None  # no fit_count: no feature calibration


# --- The feature distance: known answers on hand-set features ----------------------------------------------------


def test_the_distance_is_the_mahalanobis_distance_to_the_nearest_class_mean():
    from core.familiarity import FeatureSpace

    # Variance 4 along x, 1 along y: (2, 0) is one standard deviation from (0, 0), (0, 3) three; (5, 0) lies halfway.
    space = FeatureSpace.from_covariance([[0, 0], [10, 0]], np.diag([4.0, 1.0]))
    points = [[2, 0], [0, 3], [10, -2], [5, 0], [0, 0]]
    np.testing.assert_allclose(space.distances(points), [1, 3, 2, 2.5, 0], atol=1e-6)
    # Correlated features: covariance [[2, 1], [1, 2]], whose inverse is [[2, -1], [-1, 2]] / 3. Along the
    # correlation (1, 1) the squared distance is (2 - 1 - 1 + 2) / 3; across it, (1, -1), (2 + 1 + 1 + 2) / 3.
    correlated = FeatureSpace.from_covariance([[0, 0]], [[2.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(correlated.distances([[1, 1], [1, -1]]), [np.sqrt(2 / 3), np.sqrt(2)], rtol=1e-6)
    with pytest.raises(ValueError, match="2 features were calibrated, 3 given"):
        space.distances([[1, 2, 3]])


def test_the_space_is_fitted_on_class_means_and_one_shrunk_covariance_of_the_differences_from_them():
    from sklearn.covariance import ledoit_wolf

    from core.familiarity import FeatureSpace

    # Two classes around (0, 0) and (10, 0), each with the same four differences from its mean.
    differences = np.array([[1, 0], [-1, 0], [0, 2], [0, -2]], float)
    features = np.concatenate([differences, differences + [10, 0]])
    space = FeatureSpace.fit(features, np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    np.testing.assert_allclose(space.means, [[0, 0], [10, 0]], atol=1e-6)
    shrunk, shrinkage = ledoit_wolf(np.concatenate([differences, differences]), assume_centered=True)
    covariance = np.linalg.inv(space.whitening @ space.whitening.T)
    np.testing.assert_allclose(covariance, shrunk, rtol=1e-5)
    assert space.shrinkage == pytest.approx(shrinkage)
    # Shrunk from the plain estimate diag(0.5, 2) towards its mean variance 1.25: between the two on each axis.
    assert 0.5 < covariance[0, 0] < 1.25 < covariance[1, 1] < 2


def test_the_ceiling_is_the_95th_percentile_of_the_calibration_images_distances():
    from core.familiarity import FeatureSpace, calibrate_features

    space = FeatureSpace.from_covariance([[0, 0]], np.eye(2))
    features = np.stack([np.arange(101.0), np.zeros(101)], axis=1)  # distances 0, 1, …, 100
    calibration = calibrate_features(space, features, "pool", fitted_on=7, detail="a ruler")
    usual = calibration.usual
    assert usual.ceiling == pytest.approx(95.0)
    assert (usual.images, usual.fitted_on, usual.share_above, usual.layer) == (101, 7, 0.05, "pool")
    assert [d.near for d in calibration.measure([[95, 0], [95.5, 0]])] == [True, False]


def _two_colour_model(keras):
    """8x8x3 pixels -> their mean colour -> `features` (mean red, mean green), by fixed weights -> `classes`, a
    softmax of (red − green, green − red): sure of 'red' wherever red beats green by a few levels."""
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
    features = keras.layers.Dense(2, name="features")
    classes = keras.layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, classes(features(pooled)))
    features.set_weights([np.array([[1, 0], [0, 1], [0, 0]], np.float32), np.zeros(2, np.float32)])
    classes.set_weights([np.array([[1, -1], [-1, 1]], np.float32), np.zeros(2, np.float32)])
    return model


def _uniform(red: float, green: float) -> np.ndarray:
    return np.broadcast_to(np.array([red, green, 0], np.uint8), (8, 8, 3)).copy()


def test_a_sure_answer_far_from_both_class_means_is_flagged_and_one_at_a_class_mean_is_not(keras, tmp_path):
    from core.classify import classify
    from core.familiarity import (
        FeatureSpace,
        assess_predictions,
        calibrate_features,
        feature_layer,
        features_path,
    )
    from core.scoring import load_model
    from core.spec import spec_from_file

    model = _two_colour_model(keras)
    assert feature_layer(model) == "features"  # the input of the last dense layer
    model.save(tmp_path / "colours.keras")
    card = tmp_path / "colours.json"
    card.write_text(json.dumps({"labels": ["red", "green"], "preprocessing": "raw"}))
    # Class means (100, 50) and (50, 100), five levels of spread each way; the ceiling from calibration features
    # 0..4 standard deviations from the red mean: 3.8 standard deviations.
    space = FeatureSpace.from_covariance([[100, 50], [50, 100]], np.diag([25.0, 25.0]))
    calibration_features = np.stack([100 + 5 * np.linspace(0, 4, 101), np.full(101, 50)], axis=1)
    features = calibrate_features(space, calibration_features, "features", fitted_on=20)
    assert features.usual.ceiling == pytest.approx(3.8)
    write_to_card(card, Calibration(0.9, 0.05, 20, "hand-made colours"), features)
    assert json.loads(card.read_text())["feature_familiarity"] == {
        "file": "colours.familiarity.npz",
        "layer": "features",
    }
    assert features_path(card).is_file()

    loaded = load_model(spec_from_file(tmp_path / "colours.keras"))
    at_mean, far, between = classify(loaded, [_uniform(100, 50), _uniform(255, 0), _uniform(90, 70)])
    # (255, 0) is sqrt(155² + 50²) / 5 from the red mean, further still from the green one.
    assert far[0].label == "red" and far[0].probability == 1.0
    assert far.feature.distance == pytest.approx(np.hypot(155, 50) / 5, rel=1e-5)
    assert at_mean.feature.distance == pytest.approx(0, abs=1e-4) and at_mean[0].probability == 1.0
    assert between.feature.distance == pytest.approx(np.hypot(10, 20) / 5, rel=1e-5)  # sure as well

    sure_and_far = assess_predictions(far, loaded.spec)
    assert not sure_and_far.familiar and sure_and_far.sure and sure_and_far.label == "unlike what it learned from"
    assert sure_and_far.sentence("colours") == (
        "Unlike the pictures it learned from (far from them in what the model sees), even though it is sure: colours "
        "is 100% sure, yet in what it sees the image lies further from those pictures than 95% of 101 generated dog "
        "pictures like those it learned from do. Treat this answer with care."
    )
    assert sure_and_far.short() == "Unlike the pictures it learned from, though 100% sure"
    assert "Mahalanobis distance" in sure_and_far.detail() and "This image: 32.57, beyond it." in sure_and_far.detail()
    assert sure_and_far.as_json() == {
        "familiar": False,
        "usual_floor": 0.9,
        "feature_distance": pytest.approx(32.573, abs=1e-3),
        "usual_distance_ceiling": 3.8,
    }
    familiar = assess_predictions(at_mean, loaded.spec)
    assert familiar.familiar and familiar.sentence("colours").endswith(
        "at least 90% sure, and the image is as close to them as usual in what it sees."
    )
    assert not assess_predictions(between, loaded.spec).familiar  # 4.47 standard deviations: beyond 3.8


def test_an_unsure_answer_far_away_says_both_and_a_model_without_features_says_only_its_confidence_counts():
    from core.familiarity import FeatureCeiling, FeatureDistance

    card = {"familiarity": Calibration(0.9, 0.05, 20, "hand-made colours").as_card()}
    usual = FeatureCeiling(3.8, 0.05, 101, "features", 20)
    both = assess(0.6, card, 2, FeatureDistance(5.0, usual))
    assert both.label == "unsure and unlike what it learned from"
    assert both.sentence("m").startswith("Unusually unsure, and unlike the pictures it learned from: m is 60% sure")
    assert both.short() == "Unusually unsure (usually at least 90%), and unlike the pictures it learned from"
    unsure_only = assess(0.6, card, 2, FeatureDistance(1.0, usual))
    assert unsure_only.label == "unusually unsure" and unsure_only.sentence("m").startswith("Unusually unsure: m")
    without = assess(0.95, card, 2)
    assert without.familiar and "Only the confidence is checked" in without.detail()
    assert without.as_json() == {
        "familiar": True,
        "usual_floor": 0.9,
        "feature_distance": None,
        "usual_distance_ceiling": None,
    }


def test_the_feature_layer_is_found_behind_a_nested_base_network_and_is_none_without_a_dense_layer(keras):
    from core.familiarity import feature_layer

    image = keras.Input((8, 8, 3))
    base = keras.Model(image, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image)), name="base")
    inputs = keras.Input((8, 8, 3))
    nested = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(base(inputs)))
    assert feature_layer(nested) == "base"
    head = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(2)], name="head"
    )
    inside = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))))
    assert feature_layer(inside) == "hidden"  # the head's own dense layer, one model deep
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    assert feature_layer(keras.Model(inputs, keras.layers.Softmax()(pooled))) is None
