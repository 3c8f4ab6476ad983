"""Evaluating models on labelled sets: metrics with answers worked out by hand (and scikit-learn's where it has
the metric), reading and mapping sets, the scoring pipeline and its cache, and the command line."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import dataset
from core.evaluation import data as sets
from core.evaluation import metrics
from core.evaluation.scoring import ScoreCache, score_set
from core.images import encode_png
from core.spec import ModelSpec

LABELS = dataset.LABELS


# --- metrics: known answers ------------------------------------------------------------------------------


def test_ece_of_the_hand_worked_example_is_0_40_with_ten_bins():
    # Bin (0.8, 0.9]: confidence 0.9, accuracy 1/2, gap 0.4; bin (0.5, 0.6]: confidence 0.6, accuracy 1, gap 0.4.
    curve = metrics.reliability([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1], bins=10)
    assert curve.ece == pytest.approx(0.40)
    assert curve.mce == pytest.approx(0.40)
    assert curve.counts.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 2, 0]


def test_calibration_bins_are_closed_on_the_right():
    curve = metrics.reliability([0.5, 0.7, 0.7000001, 1.0, 0.0], [1, 1, 1, 1, 1], bins=10)
    assert curve.counts.tolist() == [1, 0, 0, 0, 1, 0, 1, 1, 0, 1]  # 0.5 in (0.4, 0.5], 0.7 in (0.6, 0.7]


def test_a_perfectly_calibrated_set_has_zero_ece_and_an_overconfident_one_its_gap():
    confidence = np.r_[np.full(10, 0.8), np.full(10, 0.6)]
    correct = np.r_[np.ones(8), np.zeros(2), np.ones(6), np.zeros(4)]
    assert metrics.reliability(confidence, correct).ece == pytest.approx(0.0)
    always_sure = metrics.reliability(np.full(10, 1.0), np.r_[np.ones(7), np.zeros(3)])
    assert always_sure.ece == pytest.approx(0.3) and always_sure.mce == pytest.approx(0.3)


def test_wilson_interval_matches_the_hand_computed_values():
    low, high = metrics.wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert metrics.wilson_interval(0, 10)[0] == 0.0 and metrics.wilson_interval(10, 10)[1] == 1.0
    assert metrics.wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)


def test_wilson_interval_agrees_with_scipy():
    from scipy.stats import binomtest

    for k, n in [(3, 17), (95, 100), (190, 200), (1, 2)]:
        expected = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert metrics.wilson_interval(k, n) == (pytest.approx(expected.low), pytest.approx(expected.high))


def test_mcnemar_exact_on_a_hand_counted_table():
    # 1 image only A gets right, 6 only B: P = 2 * (C(7,0) + C(7,1)) / 2^7 = 16/128.
    assert metrics.mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert metrics.mcnemar_exact(6, 1) == pytest.approx(0.125)
    assert metrics.mcnemar_exact(3, 3) == 1.0 and metrics.mcnemar_exact(0, 0) == 1.0
    assert metrics.mcnemar_exact(0, 10) == pytest.approx(2 / 1024)


def test_agreement_table_counts_each_image_once():
    a = np.array([1, 1, 0, 0, 1, 0], bool)
    b = np.array([1, 0, 1, 0, 1, 1], bool)
    table = metrics.agreement(a, b, a == b)
    assert (table.both_right, table.only_a, table.only_b, table.both_wrong) == (2, 1, 2, 1)
    assert table.mcnemar_p == pytest.approx(1.0)


def test_aurc_of_a_perfect_ranking_is_the_best_possible_and_a_reversed_one_is_worse():
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    perfect = metrics.coverage_curve(confidence, [1, 1, 1, 0])
    assert perfect.aurc == pytest.approx(0.25 / 4)  # risk 0, 0, 0 then 1/4
    assert perfect.aurc == pytest.approx(perfect.best_aurc)
    assert perfect.random_aurc == pytest.approx(0.25)
    reversed_ = metrics.coverage_curve(confidence, [0, 1, 1, 1])
    assert reversed_.aurc == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert metrics.coverage_curve(confidence, [1, 1, 1, 1]).aurc == 0.0


def test_tied_confidences_are_kept_or_withheld_together():
    curve = metrics.coverage_curve([0.9, 0.9, 0.5], [1, 0, 1])
    assert curve.coverage.tolist() == pytest.approx([2 / 3, 1.0])
    assert curve.accuracy.tolist() == pytest.approx([0.5, 2 / 3])
    assert curve.aurc == pytest.approx((2 * 0.5 + 1 / 3) / 3)


def test_withholding_below_a_threshold_and_the_smallest_threshold_for_a_target():
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 1, 1, 0, 1, 0], bool)
    kept = metrics.withhold_below(confidence, correct, 0.8)
    assert (kept.kept, kept.withheld, kept.coverage, kept.accuracy) == (4, 2, pytest.approx(4 / 6), 0.75)
    curve = metrics.coverage_curve(confidence, correct)
    assert metrics.threshold_for_accuracy(curve, 1.0) == 0.9
    assert metrics.threshold_for_accuracy(curve, 0.8) == 0.7  # 4 of 5 right when 0.7 and above are kept
    assert metrics.threshold_for_accuracy(curve, 0.5) == 0.6
    assert metrics.threshold_for_accuracy(metrics.coverage_curve([0.9], [0]), 0.5) is None


def test_per_class_scores_and_confusion_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 4, 300))
    predicted[predicted == 3] = 2  # class 3 is never predicted: its precision divides by zero
    matrix = metrics.confusion_matrix(truth, predicted, 4)
    assert np.array_equal(matrix, confusion_matrix(truth, predicted, labels=range(4)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=range(4), zero_division=0)
    ours = metrics.per_class(matrix)
    assert [s.precision for s in ours] == pytest.approx(precision)
    assert [s.recall for s in ours] == pytest.approx(recall)
    assert [s.f1 for s in ours] == pytest.approx(f1)
    assert [s.support for s in ours] == support.tolist()
    assert ours[3].precision == 0.0


def test_majority_rate_is_the_share_of_the_most_common_class():
    assert metrics.majority_rate(np.array([0, 0, 0, 1]), 2) == 0.75


def test_suspected_label_errors_are_the_images_another_class_claims_confidently():
    # Class thresholds: "0" = mean p0 over images labelled 0 = (0.9 + 0.8 + 0.05) / 3 = 0.583; "1" = 0.85.
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.05, 0.95], [0.1, 0.9], [0.2, 0.8], [0.45, 0.55]])
    truth = np.array([0, 0, 0, 1, 1, 1])
    # Image 2 is labelled 0, yet p1 = 0.95 passes class 1's threshold and p0 = 0.05 is far below class 0's.
    # Image 5 (p1 0.55 < 0.85, p0 0.45 < 0.583) is merely unsure, not suspect.
    assert metrics.suspected_label_errors(probabilities, truth).tolist() == [2]


# --- reading sets ---------------------------------------------------------------------------------------


def _png(seed: int, index: int) -> bytes:
    return encode_png(dataset.generate(seed, index, size=48).pixels)


def _folder_set(root: Path, per_class: int = 2, classes=("Other_Dog", "dachshund")) -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i}.png").write_bytes(_png(50 + c, i))
    return root


def test_a_folder_per_class_is_read_as_keras_reads_it(tmp_path):
    root = _folder_set(tmp_path / "set")
    (root / "dachshund" / "notes.txt").write_text("not an image")
    (root / "dachshund" / "nested").mkdir()
    (root / "dachshund" / "nested" / "deep.png").write_bytes(_png(52, 0))
    labelled = sets.read_set(root)
    assert labelled.kind == "folders" and labelled.classes == ("Other_Dog", "dachshund")
    assert labelled.counts() == {"Other_Dog": 2, "dachshund": 3}
    assert "dachshund/nested/deep.png" in [image.name for image in labelled.images]


def test_a_csv_with_boxes_and_paths_relative_to_it(tmp_path):
    (tmp_path / "pictures").mkdir()
    for i in range(3):
        (tmp_path / "pictures" / f"{i}.png").write_bytes(_png(53, i))
    (tmp_path / "labels.csv").write_text(
        "file,label,x0,y0,x1,y1\npictures/0.png,dachshund,1,2,30,40\npictures/1.png,other dog,,,,\n"
        "pictures/missing.png,dachshund,0,0,1,1\n../outside.png,dachshund,0,0,1,1\n"
    )
    labelled = sets.read_set(tmp_path)  # the folder holding one CSV, or the CSV itself
    assert labelled.kind == "csv" and [i.box for i in labelled.images][:2] == [(1, 2, 30, 40), None]
    assert [i.name for i in labelled.images] == ["pictures/0.png", "pictures/1.png", "pictures/missing.png"]
    assert labelled.unreadable == (("../outside.png", "its path leads outside the CSV's folder; it was not read"),)
    assert sets.read_set(tmp_path / "labels.csv").images == labelled.images


def test_the_generators_annotations_with_boxes_and_part_masks(tmp_path):
    dataset.write_dataset(tmp_path, 4, seed=54, size=48)
    labelled = sets.read_set(tmp_path)
    assert labelled.kind == "annotations" and labelled.classes == LABELS
    first = dataset.generate(54, 0, size=48)
    assert labelled.images[0].box == first.box and labelled.images[0].parts.name == "54_00000.png"


@pytest.mark.parametrize(
    "content, sentence",
    [
        ("", "is empty; it should start with the header file,label."),
        ("path,class\na.png,x\n", "should start with a header naming the columns file and label"),
    ],
)
def test_a_csv_that_cannot_be_read_is_one_sentence(tmp_path, content, sentence):
    (tmp_path / "set.csv").write_text(content)
    with pytest.raises(sets.DataError, match=sentence):
        sets.read_set(tmp_path / "set.csv")


def test_a_folder_without_classes_or_a_missing_path_is_one_sentence(tmp_path):
    with pytest.raises(sets.DataError, match="There is no file or folder at"):
        sets.read_set(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(_png(55, 0))
    with pytest.raises(sets.DataError, match="has no subfolders; a labelled set is a folder with one subfolder"):
        sets.read_set(tmp_path / "flat")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zipped_set_unpacks_into_its_folder_and_reads_through_its_top_folder(tmp_path):
    data = _zip({"myset/dachshund/a.png": _png(56, 0), "myset/other dog/b.png": _png(56, 1), "__MACOSX/x": b""})
    folder = sets.extract_zip(data, tmp_path / "session" / "upload")
    labelled = sets.read_set(folder, "myset.zip")
    assert labelled.counts() == {"dachshund": 1, "other dog": 1}
    assert sorted(p.name for p in (tmp_path / "session").iterdir()) == ["upload"]  # nothing else written


def test_a_zip_with_a_member_outside_its_folder_or_too_large_is_refused_before_extracting(tmp_path):
    with pytest.raises(sets.DataError, match="would land outside its folder"):
        sets.extract_zip(_zip({"../evil.png": b"x"}), tmp_path / "a")
    assert not (tmp_path / "evil.png").exists() and not any((tmp_path / "a").iterdir())
    with pytest.raises(sets.DataError, match="unpacks to .* MB, more than the"):
        sets.extract_zip(_zip({"big.bin": b"0" * 3_000_000}), tmp_path / "b", max_bytes=2_000_000)
    with pytest.raises(sets.DataError, match="not a readable zip file"):
        sets.extract_zip(b"not a zip", tmp_path / "c")


# --- mapping class names ----------------------------------------------------------------------------------


def test_mapping_is_exact_then_loose_and_names_both_sides_when_it_fails():
    mapping = sets.map_labels(("dachshund", "Other_Dog"), LABELS, "demo-resnet")
    assert mapping.pairs == {"dachshund": "dachshund", "Other_Dog": "other dog"}
    assert mapping.how == {"dachshund": "exact", "Other_Dog": "loose"} and mapping.sentence(LABELS) == ""
    failed = sets.map_labels(("hotdog", "dachshund"), LABELS, "demo-resnet")
    assert failed.unmatched == ["hotdog"]
    assert failed.sentence(LABELS) == (
        "The set's class “hotdog” matches none of demo-resnet's labels (other dog, dachshund); map it by hand "
        "(--map NAME=LABEL on the command line)."
    )
    by_hand = sets.map_labels(("hotdog", "dachshund"), LABELS, "demo-resnet", {"hotdog": "other dog"})
    assert by_hand.complete and by_hand.how["hotdog"] == "by hand"


def test_mapping_by_hand_to_a_label_the_model_lacks_is_one_sentence():
    with pytest.raises(sets.DataError, match="demo-resnet has no label “cat”"):
        sets.map_labels(("hotdog",), LABELS, "demo-resnet", {"hotdog": "cat"})
    with pytest.raises(sets.DataError, match="the set has no class “cat”"):
        sets.map_labels(("hotdog",), LABELS, "demo-resnet", {"cat": "dachshund"})


# --- scoring: decode once, score once per model, cache ------------------------------------------------------


class _MirrorModel:
    """A stand-in for LoadedModel with a known answer: P(dachshund) = sigmoid((left half − right half) / 8) of
    the mean brightness, so an image and its mirror average to exactly 0.5. Counts the images it scores."""

    def __init__(self, path: Path, name: str = "mirror", size: int = 16) -> None:
        path.write_bytes(b"weights")
        self.spec = ModelSpec(name=name, path=path, input_size=(size, size), labels=LABELS, output="sigmoid")
        self.name = name
        self.scored = 0

    def batch(self, requested: int, gradients: bool = False) -> int:
        return min(requested, 5)

    def probabilities(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        assert batch_size <= 5
        self.scored += len(pixels)
        half = pixels.shape[2] // 2
        difference = pixels[:, :, :half].mean(axis=(1, 2, 3)) - pixels[:, :, half:].mean(axis=(1, 2, 3))
        p = 1 / (1 + np.exp(-difference / 8))
        return np.stack([1 - p, p], axis=1).astype(np.float32)


def test_each_image_is_decoded_once_and_scored_once_per_model_and_the_cache_scores_only_what_is_new(
    tmp_path, monkeypatch
):
    from core.evaluation import scoring

    decoded = []
    real_decode = scoring.decode_image
    monkeypatch.setattr(scoring, "decode_image", lambda data, name: decoded.append(name) or real_decode(data, name))
    labelled = sets.read_set(_folder_set(tmp_path / "set", per_class=6))
    a, b = _MirrorModel(tmp_path / "a.keras", "a"), _MirrorModel(tmp_path / "b.keras", "b", size=24)
    cache = ScoreCache()
    progress = []
    first = score_set(labelled, [a], cache=cache, progress=progress.append)
    assert len(decoded) == 12 and a.scored == 12 and first.scored == 12
    assert progress[-1].done == 12 and progress[-1].total == 12
    both = score_set(labelled, [a, b], cache=cache)  # the second model added: only it scores, each image once
    assert a.scored == 12 and b.scored == 12 and len(decoded) == 24
    assert np.array_equal(both.scores["a"].probabilities, first.scores["a"].probabilities)
    again = score_set(labelled, [a, b], cache=cache)
    assert (a.scored, b.scored, len(decoded), again.scored) == (12, 12, 24, 0)


def test_a_replaced_model_file_is_scored_again(tmp_path):
    import os

    labelled = sets.read_set(_folder_set(tmp_path / "set"))
    model = _MirrorModel(tmp_path / "m.keras")
    cache = ScoreCache()
    score_set(labelled, [model], cache=cache)
    os.utime(model.spec.path, ns=(1, 1))
    score_set(labelled, [model], cache=cache)
    assert model.scored == 8


def test_unreadable_images_are_listed_with_their_reason_and_the_rest_is_scored(tmp_path):
    root = _folder_set(tmp_path / "set")
    (root / "dachshund" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    model = _MirrorModel(tmp_path / "m.keras")
    scored = score_set(sets.read_set(root), [model])
    assert len(scored.images) == 4 and scored.scores["mirror"].probabilities.shape == (4, 2)
    assert scored.unreadable == (
        (
            "dachshund/broken.png",
            "broken.png is not an image this app can open; upload a PNG, JPEG, GIF, BMP, TIFF or WebP file.",
        ),
    )


def test_flip_averaging_gives_the_known_answer_and_shifts_add_four_views(tmp_path):
    model = _MirrorModel(tmp_path / "m.keras")
    labelled = sets.read_set(_folder_set(tmp_path / "set"))
    scored = score_set(labelled, [model], tta="flip")
    assert np.allclose(scored.scores["mirror"].tta_probabilities, 0.5, atol=1e-6)
    assert not np.allclose(scored.scores["mirror"].probabilities, 0.5, atol=1e-3)
    assert model.scored == 2 * 4
    score_set(labelled, [model], tta="flip+shift")
    assert model.scored == 2 * 4 + 6 * 4


def test_the_pipeline_gives_the_same_probabilities_as_one_plain_pass(bundled_models, tmp_path):
    dataset.write_dataset(tmp_path, 10, seed=57)
    labelled = sets.read_set(tmp_path)
    model = bundled_models["demo-efficientnet"]
    scored = score_set(labelled, [model], tta="flip")
    images, _ = dataset.generate_batch(57, 10)
    plain = model.probabilities(model.spec.resize(list(images)))
    mirrored = model.probabilities(model.spec.resize(list(images[:, :, ::-1])))
    assert np.allclose(scored.scores[model.name].probabilities, plain, atol=1e-5)
    assert np.allclose(scored.scores[model.name].tta_probabilities, (plain + mirrored) / 2, atol=1e-5)


# --- an evaluation and its files ---------------------------------------------------------------------------


def _evaluation(tmp_path, tta="none"):
    from core.evaluation import evaluate

    root = _folder_set(tmp_path / "set", per_class=5, classes=("dachshund", "other dog"))
    labelled = sets.read_set(root)
    a, b = _MirrorModel(tmp_path / "a.keras", "a"), _MirrorModel(tmp_path / "b.keras", "b", size=8)
    scored = score_set(labelled, [a, b], tta=tta)
    mappings = {m.name: sets.map_labels(labelled.classes, LABELS, m.name) for m in (a, b)}
    return evaluate(scored, mappings)


def test_an_evaluation_agrees_with_its_own_predictions_table(tmp_path):
    evaluation = _evaluation(tmp_path, tta="flip")
    frame = evaluation.predictions_frame()
    assert len(frame) == 20 and set(frame["model"]) == {"a", "b"}
    summary = evaluation.as_dict()
    for name in ("a", "b"):
        rows = frame[frame["model"] == name]
        assert summary["models"][name]["accuracy"] == pytest.approx(rows["correct"].mean())
        assert np.allclose(rows["p: dachshund"] + rows["p: other dog"], 1, atol=1e-6)
        assert np.allclose(rows["tta_confidence"], 0.5, atol=1e-6)
        matrix = np.array(summary["models"][name]["confusion"]["matrix"])
        assert matrix.sum() == 10
    table = summary["agreement"]
    assert table["both_right"] + table["only_a"] + table["only_b"] + table["both_wrong"] == 10
    galleries = evaluation.model("a")
    wrong = galleries.confidently_wrong()
    assert all(not galleries.correct[r] for r in wrong)
    assert list(galleries.confidence[wrong]) == sorted(galleries.confidence[wrong], reverse=True)
    cell = galleries.confusion_cell("dachshund", "other dog")
    assert len(cell) == matrix_cell(summary["models"]["a"]["confusion"], "dachshund", "other dog")


def matrix_cell(confusion: dict, true_label: str, predicted_label: str) -> int:
    labels = confusion["labels"]
    return confusion["matrix"][labels.index(true_label)][labels.index(predicted_label)]


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """Twelve generated dogs of a set no model saw, with a broken image among them."""
    folder = tmp_path_factory.mktemp("small-set")
    dataset.write_dataset(folder, 12, seed=58)
    entries = json.loads((folder / "annotations.json").read_text())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    entries.append({"file": "broken.png", "label": "dachshund"})
    (folder / "annotations.json").write_text(json.dumps(entries))
    return folder


def test_evaluate_command_writes_predictions_metrics_and_a_self_contained_page(
    small_set, tmp_path, capsys, bundled_models
):
    import pandas as pd

    from core.__main__ import main

    out = tmp_path / "out"
    arguments = ["evaluate", "--model", "demo-resnet", "--model", "demo-efficientnet", "--tta", "flip"]
    assert main([*arguments, "--data", str(small_set), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 12 and summary["unreadable"] == 1
    table = pd.read_parquet(out / "predictions.parquet")
    assert len(table) == 24 and table["sha256"].str.len().eq(64).all()
    expected = {"image", "true_label", "predicted_label", "confidence", "p: dachshund", "p: other dog"}
    assert expected | {"tta_predicted_label", "tta_confidence", "box_x0"} <= set(table.columns)
    found = json.loads((out / "metrics.json").read_text())
    for name in ("demo-resnet", "demo-efficientnet"):
        model = found["models"][name]
        rows = table[table["model"] == name]
        assert model["accuracy"] == pytest.approx(rows["correct"].mean())
        assert model["accuracy_ci"][0] <= model["accuracy"] <= model["accuracy_ci"][1]
        assert set(model["per_class"]) == set(LABELS) and sum(map(sum, model["confusion"]["matrix"])) == 12
        assert {"ece", "mce", "aurc", "coverage_curve", "tta"} <= set(model)
    assert 0 <= found["agreement"]["mcnemar_p"] <= 1
    assert found["set"]["unreadable"][0]["image"] == "broken.png"
    page = (out / "evaluation.html").read_text()
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert page.count("src='data:image/jpeg") >= 12 and "Images that could not be read" in page


def test_evaluate_command_maps_class_names_by_hand_and_refuses_a_set_it_cannot_map(tmp_path, capsys):
    from core.__main__ import main

    root = _folder_set(tmp_path / "set", per_class=2, classes=("sausage dog", "Other_Dog"))
    out = tmp_path / "out"
    assert main(["evaluate", "--model", "demo-resnet", "--data", str(root), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "error: The set's class “sausage dog” matches none of demo-resnet's labels (other dog, dachshund); map it by "
        "hand (--map NAME=LABEL on the command line)."
    )
    arguments = ["evaluate", "--model", "demo-resnet", "--data", str(root), "--map", "sausage dog=dachshund"]
    assert main([*arguments, "--out", str(out)]) == 0
    mapping = json.loads((out / "metrics.json").read_text())["mapping"]["demo-resnet"]
    assert mapping == {"Other_Dog": "other dog", "sausage dog": "dachshund"}


def test_evaluate_command_says_in_one_sentence_why_a_set_cannot_be_read(tmp_path, capsys):
    from core.__main__ import main

    assert main(["evaluate", "--model", "demo-resnet", "--data", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"error: There is no file or folder at {tmp_path / 'none'}; check the path."
    )


# --- the Evaluate page (AppTest: real models, real caches, no browser) ------------------------------------------


def _evaluate_page():
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception, app.exception
    return app


def _metrics(app) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for metric in app.metric:
        found.setdefault(metric.label, []).append(metric.value)
    return found


@pytest.fixture(scope="module")
def bundled_evaluation(bundled_models):
    """The bundled set evaluated by core alone, for the page's numbers to be held against: the page's default
    pair, models A and B."""
    from core.evaluation import bundled_set, evaluate, map_labels, score_set

    labelled = bundled_set()
    models = [bundled_models["demo-resnet"], bundled_models["demo-efficientnet"]]
    scored = score_set(labelled, models)
    return evaluate(scored, {m.name: map_labels(labelled.classes, m.spec.labels, m.name) for m in models})


def test_evaluate_page_shows_the_bundled_set_with_both_models_numbers(bundled_evaluation):
    app = _evaluate_page()
    assert not app.error, [e.value for e in app.error]
    shown = _metrics(app)
    expected = [f"{100 * m.accuracy:.1f}%" for m in bundled_evaluation.models]
    assert shown["Accuracy"] == expected
    assert shown["Expected calibration error (ECE)"] == [
        f"{100 * m.reliability.ece:.1f}%" for m in bundled_evaluation.models
    ]
    assert [h.value for h in app.header][:2] == ["demo-resnet or demo-efficientnet?", "Where it goes wrong"]
    texts = "\n".join(c.value for c in app.caption)
    assert f"McNemar's exact test p = {bundled_evaluation.agreement.mcnemar_p:.3g}" in texts
    assert "always answering the commonest class scores 50.0%" in texts
    assert "0% for a perfectly calibrated model" in texts and "a ranking that knows nothing" in texts
    wrong = bundled_evaluation.models[0].confidently_wrong()
    assert sum(b.label == "Explain" for b in app.button) == min(12, len(wrong))


def test_a_click_on_a_confusion_cell_opens_the_gallery_of_its_images(bundled_evaluation):
    app = _evaluate_page()
    m = bundled_evaluation.models[0]
    app.session_state["evaluation_confusion_0"] = {"selection": {"cells": [[1, "other dog"]]}}
    app.run()
    assert not app.exception, app.exception
    rows = m.confusion_cell("dachshund", "other dog")
    heading = f"**{m.model}: given dachshund, answered other dog** · {len(rows)} images"
    assert heading in [md.value for md in app.markdown]
    cell_buttons = [b for b in app.button if b.key and b.key.startswith("cell_0_open_")]
    assert sorted(int(b.key.rsplit("_", 1)[1]) for b in cell_buttons) == sorted(rows[:12])


def test_a_gallery_image_opens_on_the_explanation_pages_with_its_true_class(bundled_evaluation):
    from dashboard.state import EVALUATED_KEY

    app = _evaluate_page()
    row = bundled_evaluation.models[0].confidently_wrong()[0]
    image = bundled_evaluation.images[row]
    app.button(key=f"gallery_open_{row}").click().run()
    assert not app.exception, app.exception
    (chosen,) = app.session_state[EVALUATED_KEY]
    assert chosen.image.name == image.name and chosen.label == image.label and chosen.box == image.box
    assert [t.value for t in app.title] == ["Saliency"]  # the page switched
    assert any(
        c.value.startswith(f"Opened from the evaluation: {image.name} (true class: {image.label})") for c in app.caption
    )
    headings = [md.value for md in app.markdown if md.value.startswith("**")]
    assert headings[0] == f"**{image.name}** — true class: {image.label}"  # the first row, its truth known
    assert all("true class" not in h or h == headings[0] for h in headings)  # the ticked samples were unticked


def test_a_zipped_set_with_a_class_to_map_by_hand_is_evaluated(tmp_path):
    files = {f"set/Dachshund/{i}.png": _png(59, 2 * i) for i in range(3)}
    files |= {f"set/sausage dog/{i}.png": _png(59, 2 * i + 1) for i in range(3)}
    files["set/Dachshund/broken.png"] = b"\x89PNG\r\n\x1a\n not really"
    app = _evaluate_page()
    app.segmented_control(key="evaluation_source").set_value("zip").run()
    app.file_uploader(key="evaluation_zip").set_value(("set.zip", _zip(files), "application/zip")).run()
    assert not app.exception, app.exception
    warnings = [w.value for w in app.warning]
    assert warnings[:2] == [
        f"The set's class “sausage dog” matches none of {name}'s labels (other dog, dachshund); map it below."
        for name in ("demo-resnet", "demo-efficientnet")
    ]
    for name in ("demo-resnet", "demo-efficientnet"):
        app.selectbox(key=f"evaluation_map_{name}_sausage dog").set_value("other dog")
    app.run()
    assert not app.exception, app.exception
    assert not app.warning
    assert "1 image could not be read and was skipped" in [e.label for e in app.expander]
    assert len(_metrics(app)["Accuracy"]) == 2
    assert "set.zip: 7 images (Dachshund 4, sausage dog 3)." in "\n".join(c.value for c in app.caption).replace(
        "**", ""
    )


def test_one_model_on_a_csv_in_a_server_folder(tmp_path):
    (tmp_path / "pictures").mkdir()
    rows = ["file,label,x0,y0,x1,y1"]
    for index in range(4):
        dog = dataset.generate(60, index)
        (tmp_path / "pictures" / f"{index}.png").write_bytes(encode_png(dog.pixels))
        rows.append(f"pictures/{index}.png,{LABELS[dog.label]},{','.join(map(str, dog.box))}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    app = _evaluate_page()
    app.selectbox(key="model_b").set_value("(none)").run()
    app.segmented_control(key="evaluation_source").set_value("folder").run()
    app.text_input(key="evaluation_folder").input(str(tmp_path / "labels.csv")).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert len(_metrics(app)["Accuracy"]) == 1
    assert "Where it goes wrong" in [h.value for h in app.header]
    # No two-model section ("demo-resnet or demo-efficientnet?"); the trust section's question stays.
    assert not any(h.value.endswith("?") and " or " in h.value for h in app.header)
    assert "Does it look at the right thing?" in [h.value for h in app.header]
    app.text_input(key="evaluation_folder").input(str(tmp_path / "nowhere")).run()
    assert [e.value for e in app.error] == [f"There is no file or folder at {tmp_path / 'nowhere'}; check the path."]
