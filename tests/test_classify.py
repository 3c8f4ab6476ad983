import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import dataset
from core.__main__ import main
from core.classify import classify, probability_text, top_k
from core.familiarity import feature_calibration_of
from core.images import encode_png

ROOT = Path(__file__).resolve().parent.parent


def test_top_k_is_sorted_and_capped_at_the_class_count_and_five():
    probabilities = np.array([0.1, 0.4, 0.05, 0.2, 0.15, 0.06, 0.04])
    labels = tuple("abcdefg")
    assert [p.label for p in top_k(probabilities, labels, 3)] == ["b", "d", "e"]
    assert len(top_k(probabilities, labels, 10)) == 5
    assert [p.label for p in top_k(np.array([0.3, 0.7]), ("x", "y"), 5)] == ["y", "x"]


def test_a_probability_is_never_shown_as_certain_or_impossible_unless_it_is():
    """Rounding must not turn 0.9996 into 100 % (the model is not certain) or 0.0004 into 0 %: one more decimal,
    then a bound."""
    said = {p: (probability_text(p), probability_text(p, 0)) for p in (1, 0.9996, 0.99996, 0.996, 0.95, 0.0004, 0)}
    assert said == {
        1: ("100.0%", "100%"),
        0.9996: ("99.96%", ">99.9%"),
        0.99996: (">99.99%", ">99.9%"),
        0.996: ("99.6%", "99.6%"),
        0.95: ("95.0%", "95%"),
        0.0004: ("0.04%", "<0.1%"),
        0: ("0.0%", "0%"),
    }
    assert probability_text(np.float32(0.25)) == "25.0%"


@pytest.mark.slow
def test_bundled_models_classify_unseen_generated_images_correctly(bundled_models):
    for name, model in bundled_models.items():
        # Pictures like those it learned from: with the cue where it learned with one (demo-shortcut's card).
        images, labels = dataset.generate_batch(seed=31, count=48, cue=model.spec.card.get("cue"))
        results = classify(model, list(images), k=2)
        predicted = np.array([dataset.LABELS.index(r[0].label) for r in results])
        assert np.mean(predicted == labels) >= 0.9, name
        for r in results:
            assert abs(sum(p.probability for p in r) - 1) < 1e-5
            assert r[0].probability >= r[1].probability


def test_classification_is_the_same_alone_and_in_a_batch(bundled_models):
    images, _ = dataset.generate_batch(seed=32, count=5)
    model = bundled_models["demo-efficientnet"]
    together = classify(model, list(images))
    alone = [classify(model, [image])[0] for image in images]
    for a, b in zip(together, alone, strict=True):
        assert a[0].label == b[0].label and abs(a[0].probability - b[0].probability) < 1e-5


def test_classify_command_prints_one_json_line_per_image_and_model(tmp_path, capsys, bundled_models):
    paths = []
    for index in range(2):
        path = tmp_path / f"dog{index}.png"
        path.write_bytes(encode_png(dataset.generate(33, index).pixels))
        paths.append(str(path))
    assert main(["classify", "--model", "demo-resnet", "--model", "demo-efficientnet", "--top", "2", *paths]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["image"], line["model"]) for line in lines] == [
        (paths[0], "demo-resnet"),
        (paths[1], "demo-resnet"),
        (paths[0], "demo-efficientnet"),
        (paths[1], "demo-efficientnet"),
    ]
    for line in lines:
        probabilities = [p["probability"] for p in line["predictions"]]
        assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 2
        assert {p["label"] for p in line["predictions"]} == set(dataset.LABELS)
        # Whether the image is familiar to the model: its top probability against the floor in its card, and its
        # feature distance against the ceiling in the calibration file beside it.
        floor = bundled_models[line["model"]].spec.card["familiarity"]["floor"]
        ceiling = feature_calibration_of(bundled_models[line["model"]]).usual.ceiling
        assert line["usual_floor"] == floor and line["usual_distance_ceiling"] == round(ceiling, 4)
        near = line["feature_distance"] <= line["usual_distance_ceiling"]
        assert line["feature_distance"] > 0 and line["familiar"] == (probabilities[0] >= floor and near)


def test_models_command_lists_both_bundled_models_as_ready(capsys):
    assert main(["models"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["name"], line["ready"]) for line in lines][:2] == [("demo-resnet", True), ("demo-efficientnet", True)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["classify", "--model", "demo-resnet", "missing.png"], "missing.png cannot be read"),
        (["classify", "--model", "nope", "x.png"], "no model called 'nope'"),
    ],
)
def test_command_errors_are_one_sentence_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


def test_a_text_file_given_as_image_is_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = subprocess.run(
        [sys.executable, "-m", "core", "classify", "--model", "demo-resnet", str(text)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().startswith("error: notes.txt is not an image")
    assert "Traceback" not in result.stderr


def test_explain_command_writes_overlay_map_and_record_with_the_box_in_image_pixels(tmp_path, capsys):
    image = tmp_path / "wide.png"
    dog = dataset.generate(34, 1)
    wide = np.repeat(dog.pixels, 2, axis=1)  # 320x160: the box must come back in these coordinates
    image.write_bytes(encode_png(wide))
    out = tmp_path / "results"
    argv = ["explain", "--model", "demo-resnet", "--method", "gradcam", "--target", "dachshund", "--out", str(out)]
    assert main([*argv, str(image)]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["model"] == "demo-resnet" and record["method"] == "gradcam" and record["target"] == "dachshund"
    saved = json.loads((out / "wide.demo-resnet.gradcam.json").read_text())
    assert saved == record
    raw = np.load(out / record["map"])
    assert raw.shape == (160, 160) and raw.dtype == np.float32
    from PIL import Image

    assert Image.open(out / record["overlay"]).size == (320, 160)
    x0, y0, x1, y1 = record["box"]
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 160 and record["seconds"] > 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "nonsense"], "no method called 'nonsense'"),
        (["--method", "lime", "--param", "num_samples"], "should look like KEY=VALUE"),
        (["--method", "lime", "--param", "steps=3"], "lime has no parameter 'steps'"),
        (
            ["--method", "lime", "--param", "num_samples=0"],
            "error: The num_samples of lime must be a whole number of at least 1, not 0.\n",
        ),
        (
            ["--method", "smoothgrad", "--param", "samples=many"],
            "error: The samples of smoothgrad must be a whole number of at least 1, not 'many'.\n",
        ),
        (
            ["--method", "integrated-gradients", "--param", "baseline=pink"],
            "error: The baseline of integrated-gradients must be one of black, grey, white or blur, not 'pink'.\n",
        ),
        (["--method", "gradcam", "--target", "cat"], "has no class 'cat'"),
    ],
)
def test_explain_command_refuses_bad_options_in_one_line(tmp_path, capsys, extra, message):
    image = tmp_path / "dog.png"
    image.write_bytes(encode_png(dataset.generate(34, 0).pixels))
    assert main(["explain", "--model", "demo-resnet", *extra, "--out", str(tmp_path), str(image)]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
