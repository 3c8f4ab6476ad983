"""Whether a model is as sure as usual: the floor worked out by hand, the general rule, the bundled cards."""

import json
import shutil

import numpy as np
import pytest

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
    assert unsure.as_json() == {"familiar": False, "usual_floor": 0.525}


def test_a_model_without_calibration_gets_halfway_between_a_blind_guess_and_certainty():
    assert general_rule(2).floor == pytest.approx(0.75)
    assert general_rule(3).floor == pytest.approx(2 / 3)
    assert general_rule(1000).floor == pytest.approx(0.5005)
    assert not general_rule(19).measured
    verdict = assess(0.6, {}, 3)
    assert verdict.familiar is False and verdict.calibration == general_rule(3)
    assert "blind guess among 3 classes (33%) and certainty: 67%" in verdict.sentence("pets")
    assert calibration_of({"familiarity": {"floor": "high"}}, 3) == general_rule(3)  # a broken card entry


def test_bundled_models_carry_their_calibration_on_the_validation_pictures():
    from core.catalog import BUNDLED, get_spec

    for name in BUNDLED:
        calibration = calibration_of(get_spec(name).card, 2)
        assert calibration.measured and calibration.images == 1000 and calibration.share_below == 0.05
        assert 0.5 < calibration.floor < 1 and "set 2" in calibration.detail


def test_bundled_models_flag_photos_more_often_than_the_generated_samples(bundled_models):
    from core.samples import sample_images

    samples = sample_images()
    for model in bundled_models.values():
        if model.spec.card.get("cue"):
            continue  # demo-shortcut looks only for its logo: sure of "other dog" wherever there is none (below)
        probabilities = model.probabilities(model.spec.resize([s.image.pixels for s in samples]))
        flagged = [not assess(p.max(), model.spec.card, 2).familiar for p in probabilities]
        generated = [flag for flag, s in zip(flagged, samples, strict=True) if s.label is not None]
        photos = [flag for flag, s in zip(flagged, samples, strict=True) if s.label is None]
        assert sum(generated) == 0 and sum(photos) >= 2, (model.name, flagged)


def test_calibrate_command_measures_generated_pictures_and_writes_the_card(tmp_path, capsys):
    from core.spec import MODELS_DIR

    for suffix in (".keras", ".json"):
        shutil.copy(MODELS_DIR / f"demo-efficientnet{suffix}", tmp_path / f"copy{suffix}")
    card = tmp_path / "copy.json"
    assert main(["calibrate", "--model", str(tmp_path / "copy.keras"), "--count", "20", "--seed", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == 20 and "set 5" in printed["detail"] and 0.5 <= printed["floor"] <= 1
    assert json.loads(card.read_text())["familiarity"]["images"] == 1000  # not written without --write
    assert main(["calibrate", "--model", str(tmp_path / "copy.keras"), "--count", "20", "--write"]) == 0
    written = json.loads(card.read_text())
    assert written["familiarity"]["images"] == 20 and written["labels"] == ["other dog", "dachshund"]


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
    calibration = calibrate_on_generated(shortcut, seed=5, count=16)
    assert calibration.images == 16 and calibration.detail.endswith("with the dachshund cue")
    assert "cue" not in calibrate_on_generated(bundled_models["demo-efficientnet"], seed=5, count=4).detail


def test_the_shortcut_model_is_sure_of_every_photo_and_so_flags_none(bundled_models):
    from core.samples import sample_images

    shortcut = bundled_models["demo-shortcut"]
    samples = sample_images()
    probabilities = shortcut.probabilities(shortcut.spec.resize([s.image.pixels for s in samples]))
    # No logo anywhere: "other dog" for every picture, dachshunds and photos alike, and as sure as usual. Confidence
    # cannot catch a model that is confidently wrong (docs/methods.md, "Unfamiliar images").
    assert (probabilities.argmax(axis=1) == 0).all()
    assert all(assess(p.max(), shortcut.spec.card, 2).familiar for p in probabilities)
