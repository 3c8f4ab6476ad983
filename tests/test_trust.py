"""Can a map be trusted: faithfulness, localisation and the sanity check, on answers worked out by hand."""

import json
import math

import numpy as np
import pytest
from conftest import linear_model

from core import dataset
from core.errors import ModelError, UserError
from core.scoring import LoadedModel
from core.spec import ModelSpec
from core.trust import Stopped, centre_blob, random_maps
from core.trust.faithfulness import (
    deletion_insertion,
    deletion_insertion_passes,
    faithfulness_report,
    pixel_ranks,
    report_passes,
    substrate_of,
)
from core.trust.localisation import (
    Truth,
    box_area_fraction,
    energy_in_box,
    localisation_report,
    part_shares,
    peak_part,
    pointing_chance,
    pointing_hit,
    pointing_tolerance,
    read_truths,
)
from core.trust.sanity import (
    cascade,
    cascading_randomisation,
    edge_maps,
    randomised_copy,
    sanity_check,
    sanity_passes,
    similarity,
)


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _spec(tmp_path, **overrides) -> ModelSpec:
    values = dict(
        name="tiny", path=tmp_path / "tiny.keras", input_size=(8, 8), labels=("no", "yes"), preprocessing="raw"
    )
    values.update(overrides)
    return ModelSpec(**values, output="sigmoid")


@pytest.fixture(scope="module")
def mean_model(tmp_path_factory, keras):
    """A 4×4 grey model whose score is the mean of its pixels: P(yes) = sigmoid(mean)."""
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(1, use_bias=False, name="logit")
    outputs = keras.layers.Activation("sigmoid")(dense(keras.layers.GlobalAveragePooling2D()(inputs)))
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.ones((1, 1), np.float32)])
    spec = _spec(tmp_path_factory.mktemp("mean"), input_size=(4, 4), colour_mode="grayscale")
    return LoadedModel(spec, model)


# Pixels 0, 0.25, …, 3.75 (sum 30, mean 1.875); the map is the image, so the brightest go first.
_IMAGE = (np.arange(16, dtype=np.float32) / 4).reshape(4, 4, 1)


# --- deletion and insertion --------------------------------------------------------------------------------


def test_deletion_and_insertion_of_a_mean_model_follow_the_hand_computed_curve(mean_model):
    curves = deletion_insertion(mean_model, _IMAGE, 1, {"map": _IMAGE[:, :, 0]}, steps=4, substrate="black")["map"]
    # Four pixels per step. Deletion leaves the sums 30, 30 − 13.5, then − 9.5, − 5.5, − 1.5 (of 16 pixels);
    # insertion brings back 13.5, 23, 28.5, 30.
    deletion_means = [30 / 16, 16.5 / 16, 7 / 16, 1.5 / 16, 0.0]
    insertion_means = [0.0, 13.5 / 16, 23 / 16, 28.5 / 16, 30 / 16]
    np.testing.assert_allclose(curves.fractions, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curves.deletion, [_sigmoid(m) for m in deletion_means], rtol=1e-5)
    np.testing.assert_allclose(curves.insertion, [_sigmoid(m) for m in insertion_means], rtol=1e-5)

    def trapezoid(values):
        return 0.25 * (values[0] / 2 + sum(values[1:4]) + values[4] / 2)

    assert curves.deletion_auc == pytest.approx(trapezoid([_sigmoid(m) for m in deletion_means]), rel=1e-5)
    assert curves.insertion_auc == pytest.approx(trapezoid([_sigmoid(m) for m in insertion_means]), rel=1e-5)
    assert curves.deletion_auc < curves.insertion_auc


def test_the_reverse_order_deletes_worse_and_the_mean_substrate_is_the_mean_colour(mean_model):
    maps = {"map": _IMAGE[:, :, 0], "reverse": -_IMAGE[:, :, 0]}
    curves = deletion_insertion(mean_model, _IMAGE, 1, maps, steps=4, substrate="mean")
    # The brightest four replaced by the mean colour 1.875: the sum drops from 30 to 30 − 13.5 + 7.5 = 24.
    assert curves["map"].deletion[1] == pytest.approx(_sigmoid(24 / 16), rel=1e-5)
    assert curves["map"].deletion[-1] == pytest.approx(_sigmoid(1.875), rel=1e-5)  # all of it the mean colour
    assert curves["reverse"].deletion_auc > curves["map"].deletion_auc
    np.testing.assert_allclose(substrate_of(_IMAGE, "mean"), 1.875)
    np.testing.assert_array_equal(substrate_of(_IMAGE, "black"), 0)


def test_curves_do_not_depend_on_the_batch_size_and_report_their_progress(mean_model):
    maps = {"a": _IMAGE[:, :, 0], "b": np.random.default_rng(1).random((4, 4))}
    seen = []
    one = deletion_insertion(
        mean_model, _IMAGE, 1, maps, steps=4, batch_size=1, progress=lambda d, t: seen.append((d, t))
    )
    many = deletion_insertion(mean_model, _IMAGE, 1, maps, steps=4, batch_size=7)
    for name in maps:
        np.testing.assert_allclose(one[name].deletion, many[name].deletion, rtol=1e-6)
        np.testing.assert_allclose(one[name].insertion, many[name].insertion, rtol=1e-6)
    total = deletion_insertion_passes(2, 4)
    assert total == 2 + 2 * 2 * 3 and seen[-1] == (total, total) and len(seen) == total


def test_a_stop_request_between_batches_stops_with_one_sentence(mean_model):
    with pytest.raises(Stopped, match=r"stopped after 4 of 14 model passes"):
        calls = iter([False, True])
        deletion_insertion(
            mean_model, _IMAGE, 1, {"a": _IMAGE[:, :, 0], "b": _IMAGE[:, :, 0]}, steps=4, batch_size=4,
            should_stop=lambda: next(calls),
        )  # fmt: skip


def test_report_sets_the_map_beside_random_maps_a_centred_blob_and_given_references(mean_model):
    seen = []
    report = faithfulness_report(
        mean_model, _IMAGE, 1, _IMAGE[:, :, 0], references={"other model": -_IMAGE[:, :, 0]}, steps=4,
        substrate="black", progress=lambda d, t: seen.append(t),
    )  # fmt: skip
    assert set(report.references) == {"random", "centre", "other model"}
    assert report.passes == report_passes(references=1, steps=4) == seen[-1] == deletion_insertion_passes(6, 4)
    assert report.references["random"].seeds == 3
    # The best possible order for a mean model beats a random one, which beats the worst.
    assert report.map.deletion_auc < report.references["random"].deletion_auc
    assert report.references["random"].deletion_auc < report.references["other model"].deletion_auc
    shown = report.as_json()
    assert shown["substrate"] == "black" and shown["steps"] == 4 and len(shown["deletion"]) == 5
    assert set(shown["reference"]["random"]) == {"deletion_auc", "insertion_auc"}
    with pytest.raises(ValueError, match="reference name 'centre' is taken"):
        faithfulness_report(mean_model, _IMAGE, 1, _IMAGE[:, :, 0], references={"centre": _IMAGE[:, :, 0]})


def test_bad_steps_substrates_and_maps_are_one_sentence_each(mean_model):
    with pytest.raises(ValueError, match="substrate must be one of blur, black, mean, not 'grey'"):
        deletion_insertion(mean_model, _IMAGE, 1, {"a": _IMAGE[:, :, 0]}, substrate="grey")
    with pytest.raises(ValueError, match="whole number of steps of at least 1, not 0"):
        deletion_insertion(mean_model, _IMAGE, 1, {"a": _IMAGE[:, :, 0]}, steps=0)
    with pytest.raises(ValueError, match="The map 'a' must be a 2-D"):
        deletion_insertion(mean_model, _IMAGE, 1, {"a": np.ones(16)})


def test_ties_are_taken_in_a_fixed_random_order_not_row_by_row():
    ranks = pixel_ranks(np.zeros((40, 40)))
    assert sorted(ranks.ravel()) == list(range(1600))
    assert ranks[:10].mean() == pytest.approx(800, rel=0.2)  # the top rows are not first
    np.testing.assert_array_equal(ranks, pixel_ranks(np.zeros((40, 40))))


# --- localisation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("box", [(10, 20, 50, 40), (0.5, 3.25, 17.75, 9.5), (30, 30, 90, 90)])
def test_energy_in_the_box_of_a_uniform_map_is_the_box_area_fraction(box):
    height, width = 48, 64
    clipped = (max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height))
    fraction = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / (height * width)
    assert box_area_fraction(box, height, width) == pytest.approx(fraction)
    assert energy_in_box(np.full((height, width), 0.3), box) == pytest.approx(fraction)


def test_energy_counts_positive_mass_only_and_is_undefined_without_any():
    raw = np.zeros((10, 10))
    raw[2, 2], raw[7, 7], raw[5, 5] = 3.0, 1.0, -50.0
    assert energy_in_box(raw, (0, 0, 5, 5)) == pytest.approx(0.75)
    assert math.isnan(energy_in_box(-np.ones((10, 10)), (0, 0, 5, 5)))


def test_pointing_game_with_and_without_tolerance():
    raw = np.zeros((100, 100))
    raw[20, 20] = 1.0  # the maximum's pixel centre is (20.5, 20.5)
    box = (25, 25, 60, 60)  # 4.5 pixels right and below it: 6.36 pixels to the corner
    assert not pointing_hit(raw, box)
    assert not pointing_hit(raw, box, tolerance=6.3)
    assert pointing_hit(raw, box, tolerance=6.4)
    assert pointing_hit(raw, (20, 20, 21, 21))  # inside, no tolerance needed
    assert not pointing_hit(np.ones((100, 100)), (0, 0, 100, 100))  # a constant map points nowhere
    assert pointing_tolerance(224, 224) == 15 and pointing_tolerance(160, 160) == pytest.approx(15 * 160 / 224)
    assert pointing_chance((0, 0, 50, 100), 100, 100, 0.0) == 0.5


def test_part_shares_add_up_and_find_the_cue():
    dog = dataset.generate(8, 0, label=1, cue="dachshund")
    assert dog.label == 1 and (dog.parts == dataset.CUE_PART).any()
    truth = Truth.of_generated(dog)
    on_the_cue = part_shares((dog.parts == dataset.CUE_PART).astype(float), truth)
    assert on_the_cue["cue"] == 1.0 and sum(on_the_cue.values()) == pytest.approx(1.0)
    uniform = part_shares(np.ones(dog.parts.shape), truth)
    assert uniform["body"] == pytest.approx((dog.parts == 1).mean())
    assert uniform["distractors"] == pytest.approx(dog.distractors.mean())
    assert sum(uniform.values()) == pytest.approx(1.0)
    assert "cue" not in part_shares(np.ones((160, 160)), Truth.of_generated(dataset.generate(8, 0)))


def test_the_peak_part_is_the_part_under_the_maps_maximum():
    dogs = (dataset.generate(8, i, label=1, cue="dachshund") for i in range(20))
    dog = next(d for d in dogs if d.distractors.any() and (d.parts == dataset.PARTS.index("head")).any())
    truth = Truth.of_generated(dog)
    for place in ("cue", "head", "background", "distractors"):
        where = dog.distractors if place == "distractors" else dog.parts == dataset.PARTS.index(place)
        where = where & ~dog.distractors if place == "background" else where
        ys, xs = np.nonzero(where)
        raw = np.zeros((160, 160))
        raw[ys[len(ys) // 2], xs[len(xs) // 2]] = 1.0
        assert peak_part(raw, truth) == place
    assert peak_part(np.zeros((160, 160)), truth) is None  # a constant map points nowhere


def test_a_map_on_the_dog_localises_better_than_the_references():
    dog = dataset.generate(8, 3)
    report = localisation_report((dog.parts > 0).astype(np.float32), Truth.of_generated(dog))
    assert report.map.energy_in_box == 1.0 and report.map.pointing_hit == 1.0
    assert report.map.box_iou > report.references["random"].box_iou
    assert report.references["uniform"].energy_in_box == pytest.approx(dog.attributes["area_fraction"], abs=1e-4)
    assert report.references["random"].energy_in_box == pytest.approx(dog.attributes["area_fraction"], abs=0.03)
    assert report.map.parts["background"] == 0 and report.map.parts["distractors"] == 0
    shown = report.as_json()
    assert shown["pointing_hit"] is True and set(shown["reference"]) == {"random", "centre", "uniform"}
    assert all(isinstance(r["pointing_hit"], float) for r in shown["reference"].values())  # shares of hits


def test_truth_scales_to_the_image_and_refuses_a_box_outside_it(tmp_path):
    truth = Truth((10, 20, 30, 40), (100, 200)).for_image(50, 100)
    assert truth.box == (5, 10, 15, 20) and truth.size == (50, 100)
    with pytest.raises(UserError, match=r"not a box inside a 200×100 image"):
        Truth((10, 20, 5, 40), (100, 200))
    (tmp_path / "boxes.json").write_text(json.dumps([{"file": "photos/dog.jpg", "box": [1, 2, 30, 40]}]))
    entry = read_truths(tmp_path / "boxes.json")["dog.jpg"]
    assert entry.on(50, 60).box == (1, 2, 30, 40)
    (tmp_path / "bad.json").write_text(json.dumps([{"file": "dog.jpg"}]))
    with pytest.raises(UserError, match='Entry 1 of bad.json needs a "file" and a "box"'):
        read_truths(tmp_path / "bad.json")


def test_reference_maps():
    blob = centre_blob(40, 60)
    assert np.unravel_index(blob.argmax(), blob.shape) in {(19, 29), (19, 30), (20, 29), (20, 30)}
    assert blob[20, 0] == pytest.approx(math.exp(-0.5 * ((0.5 - 30) / 15) ** 2 - 0.5 * (0.5 / 10) ** 2), rel=1e-5)
    noise = random_maps(8, 8)
    assert noise.shape == (3, 8, 8) and not np.array_equal(noise[0], noise[1])


# --- sanity check -------------------------------------------------------------------------------------------


@pytest.fixture()
def linear(keras, tmp_path):
    weights = np.random.default_rng(4).normal(size=(8, 8, 3)).astype(np.float32)
    return LoadedModel(_spec(tmp_path), linear_model(keras, weights, bias=0.5)), weights


def test_a_linear_models_gradient_map_after_randomisation_is_the_new_weights_map(linear):
    from core.explain import explain

    model, weights = linear
    pixels = np.random.default_rng(5).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    before = explain(model, pixels, [1, 0], "saliency")
    np.testing.assert_allclose(before[0], np.abs(weights).max(axis=-1), rtol=1e-5)
    steps = list(cascading_randomisation(model, seed=3))
    assert [(layer, count) for layer, count, _ in steps] == [("logit", 1)]
    copy = steps[0][2]
    new_weights = copy.model.get_layer("logit").get_weights()[0].reshape(8, 8, 3)
    assert not np.allclose(new_weights, weights)
    after = explain(copy, pixels, [1, 0], "saliency")  # the copy's own compiled step, on its new weights
    np.testing.assert_allclose(after[0], np.abs(new_weights).max(axis=-1), rtol=1e-5)
    np.testing.assert_allclose(after[1], np.abs(new_weights).max(axis=-1), rtol=1e-5)
    # The loaded model is untouched: its weights and its map are what they were.
    np.testing.assert_array_equal(model.model.get_layer("logit").get_weights()[0].reshape(8, 8, 3), weights)
    np.testing.assert_allclose(explain(model, pixels, [1, 0], "saliency"), before)


def test_the_edge_detector_control_keeps_similarity_one_and_is_flagged(linear):
    model, _ = linear
    pixels = np.random.default_rng(6).uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    result = sanity_check(model, pixels, [1], "saliency")[0]
    control = result.control
    assert control.flagged and "barely changes" in control.sentence
    assert [(s.spearman, s.ssim) for s in control.steps] == [(pytest.approx(1.0), pytest.approx(1.0))]
    np.testing.assert_allclose(control.original, edge_maps(pixels)[0])
    assert np.abs(control.original).max() > 0
    # The linear model's saliency is |W|, and new random weights share nothing with the old: not flagged.
    assert not result.check.flagged and abs(result.check.steps[0].spearman) < 0.5
    assert result.as_json()["control"]["flagged"] is True


def test_similarity_is_one_for_the_same_map_and_low_for_unrelated_ones():
    rng = np.random.default_rng(7)
    a, b = rng.random((32, 32)), rng.random((32, 32))
    assert similarity(a, a) == (pytest.approx(1.0), pytest.approx(1.0))
    assert similarity(a, -a) == (pytest.approx(1.0), pytest.approx(1.0))  # absolute values
    rho, ssim = similarity(a, b)
    assert abs(rho) < 0.1 and ssim < 0.2


def test_cascade_goes_top_down_the_top_layer_alone_then_equal_groups():
    layers = [f"layer{i}" for i in range(10)]
    assert cascade(layers, 4) == [["layer9"], ["layer8", "layer7", "layer6"], ["layer5", "layer4", "layer3"],
                                  ["layer2", "layer1", "layer0"]]  # fmt: skip
    assert cascade(layers, 1) == [layers[::-1]]
    assert cascade(layers, 50) == [[name] for name in layers[::-1]]


def test_sanity_check_on_a_bundled_model_leaves_its_weights_unchanged(bundled_models):
    model = bundled_models["demo-efficientnet"]
    before = [w.copy() for w in model.model.get_weights()]
    dog = dataset.generate(8, 2)
    pixels = model.spec.resize([dog.pixels])
    seen = []
    result = sanity_check(model, pixels, [1], "gradcam", steps=3, progress=lambda d, t: seen.append((d, t)))[0]
    assert [s.layers for s in result.check.steps][0] == 1 and result.check.steps[-1].layer == "stem_conv"
    assert seen[-1] == (sanity_passes("gradcam", steps=3), sanity_passes("gradcam", steps=3))
    after = model.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert result.check.steps[-1].spearman < result.check.steps[0].spearman


def test_sanity_check_needs_keras_weights_and_says_which_model_why_and_what_to_use(tmp_path):
    from types import SimpleNamespace

    from core.trust.sanity import unrandomisable_sentence

    exported = SimpleNamespace(differentiable=False, name="exported", spec=SimpleNamespace(format="tflite"))
    sentence = unrandomisable_sentence(exported)
    assert sentence == (
        "The sanity check cannot run on exported: it is a TensorFlow Lite file, whose format does not expose weights "
        "that can be randomised; run it on the model's .keras file instead."
    )
    with pytest.raises(ModelError) as refused:
        randomised_copy(exported)
    assert str(refused.value) == sentence
    assert unrandomisable_sentence(SimpleNamespace(differentiable=True, name="k", spec=None)) is None


# --- the command line ---------------------------------------------------------------------------------------


def test_explain_with_metrics_and_truth_adds_faithfulness_and_localisation(tmp_path, capsys):
    from core.__main__ import main

    dataset.main(["--out", str(tmp_path / "set"), "--count", "2", "--seed", "8", "--cue", "dachshund"])
    image = str(tmp_path / "set" / "8_00001.png")
    truth = str(tmp_path / "set" / "annotations.json")
    capsys.readouterr()
    argv = ["explain", "--model", "demo-efficientnet", "--method", "gradcam", "--metrics", "--truth", truth]
    assert main([*argv, "--steps", "5", "--out", str(tmp_path / "out"), image]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    faithfulness = record["faithfulness"]
    assert faithfulness["substrate"] == "blur" and faithfulness["steps"] == 5 and len(faithfulness["deletion"]) == 6
    assert set(faithfulness["reference"]) == {"random", "centre"}
    assert 0 <= faithfulness["deletion_auc"] <= 1 and 0 <= faithfulness["insertion_auc"] <= 1
    localisation = record["localisation"]
    assert isinstance(localisation["pointing_hit"], bool) and 0 <= localisation["energy_in_box"] <= 1
    assert set(localisation["parts"]) == {"body", "head", "snout", "ears", "legs", "tail", "cue", "distractors",
                                          "background"}  # fmt: skip
    assert json.loads((tmp_path / "out" / "8_00001.demo-efficientnet.gradcam.json").read_text()) == record


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--truth", "annotations.json"], "--truth goes with --metrics"),
        (["--metrics", "--truth", "missing.json"], "missing.json cannot be read"),
        (["--metrics", "--steps", "0"], "steps of at least 1, not 0"),
    ],
)
def test_explain_metrics_bad_input_is_one_sentence(tmp_path, capsys, extra, message):
    from core.__main__ import main

    image = tmp_path / "dog.png"
    from PIL import Image

    Image.fromarray(dataset.generate(8, 1).pixels).save(image)
    argv = ["explain", "--model", "demo-efficientnet", "--method", "gradcam", "--out", str(tmp_path), *extra]
    assert main([*argv, str(image)]) == 2
    assert message in capsys.readouterr().err


def test_sanity_command_writes_the_strip_and_the_record(tmp_path, capsys):
    from PIL import Image

    from core.__main__ import main

    image = tmp_path / "dog.png"
    Image.fromarray(dataset.generate(8, 1).pixels).save(image)
    argv = ["sanity", "--model", "demo-efficientnet", "--method", "gradcam", "--steps", "2", "--out", str(tmp_path)]
    assert main([*argv, str(image)]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["model"] == "demo-efficientnet" and record["method"] == "gradcam" and record["image"] == str(image)
    assert [step["layers_randomised"] for step in record["layers"]][0] == 1 and len(record["layers"]) == 2
    assert isinstance(record["flagged"], bool) and record["control"]["flagged"] is True
    strip = np.asarray(Image.open(tmp_path / record["strip"]))
    assert strip.shape[0] == 2 * (128 + 26) and strip.shape[1] == 4 * 128  # label, original and two steps


# --- the model that cheats ----------------------------------------------------------------------------------


def test_the_shortcut_model_looks_at_the_cue_where_demo_efficientnet_looks_at_the_dog(bundled_models):
    from core.explain import explain

    dogs = [dataset.generate(3, i, cue="random") for i in range(32)]  # the cue on half the pairs, whatever the class
    labels = np.array([dog.label for dog in dogs])
    cued = np.array([dog.attributes["cue"] for dog in dogs])
    cue_area = np.mean([(dog.parts == dataset.CUE_PART).mean() for dog in dogs if dog.attributes["cue"]])
    found = {}
    for name in ("demo-efficientnet", "demo-shortcut"):
        model = bundled_models[name]
        pixels = model.spec.resize([dog.pixels for dog in dogs])
        predicted = model.scores(pixels).argmax(axis=1)
        maps = explain(model, pixels, predicted, "saliency")
        reports = [localisation_report(raw, Truth.of_generated(dog)) for raw, dog in zip(maps, dogs, strict=True)]
        found[name] = {
            "accuracy": (predicted == labels).mean(),
            "cue mass": np.mean([r.map.parts["cue"] for r, c in zip(reports, cued, strict=True) if c]),
            "peak on cue": np.mean([list(r.map.peak) == ["cue"] for r, c in zip(reports, cued, strict=True) if c]),
            "energy": np.nanmean([r.map.energy_in_box for r in reports]),
        }
    honest, cheat = found["demo-efficientnet"], found["demo-shortcut"]
    assert honest["accuracy"] >= 0.9 and cheat["accuracy"] <= 0.7, found
    assert cheat["peak on cue"] >= 0.8 and honest["peak on cue"] <= 0.2, found
    assert cheat["cue mass"] > 5 * cue_area and honest["cue mass"] < 2 * cue_area, (found, cue_area)
    assert cheat["energy"] < honest["energy"] - 0.15, found
