"""Where users' models come from: the registry file read at start, and paths on the command line."""

import json
import shutil
from pathlib import Path

import numpy as np

from core.__main__ import main
from core.catalog import known_models, registry_errors
from core.images import encode_png
from core.scoring import load_model

FIXTURES = Path(__file__).parent / "fixtures"


def _registry(tmp_path, monkeypatch, entries) -> Path:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": entries}))
    monkeypatch.setenv("MODEL_REGISTRY", str(path))
    return path


def test_registry_entries_become_known_models_and_broken_ones_are_explained(tmp_path, monkeypatch):
    shutil.copy(FIXTURES / "keras2_nested.h5", tmp_path / "pets.h5")
    shutil.copy(FIXTURES / "keras2_lambda.h5", tmp_path / "lambda.h5")
    (tmp_path / "pets.txt").write_text("cat\ndog\nfox\n")
    _registry(
        tmp_path,
        monkeypatch,
        [
            {"name": "pets", "path": "pets.h5", "labels": "pets.txt", "preprocessing": "mobilenet_v2"},
            {"name": "gone", "path": "missing.keras"},
            {"name": "coded", "path": "lambda.h5", "trusted": True},
            {"name": "untrusted", "path": "lambda.h5"},
            {"name": "demo-resnet", "path": "pets.h5", "labels": "pets.txt"},
        ],
    )
    specs = known_models()
    assert list(specs)[:5] == ["demo-resnet", "demo-efficientnet", "demo-shortcut", "resnet50v2", "efficientnetb1"]
    assert list(specs)[5:] == ["pets", "coded"]
    pets = specs["pets"]
    assert pets.labels == ("cat", "dog", "fox") and pets.preprocessing == "mobilenet_v2" and pets.format == "h5"
    assert load_model(pets).probabilities(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 3)
    assert specs["coded"].trusted
    problems = registry_errors()
    assert len(problems) == 3
    assert problems[0].startswith("Registry entry gone: There is no file or folder at")
    assert "untrusted" in problems[1] and "Lambda layer" in problems[1]
    assert problems[2] == "The registry names demo-resnet twice or reuses a built-in name; rename that entry."
    assert specs["demo-resnet"].format == "keras"  # the bundled model keeps its name


def test_an_unreadable_registry_is_one_sentence_and_the_other_models_stay(tmp_path, monkeypatch):
    path = tmp_path / "registry.json"
    path.write_text("{not json")
    monkeypatch.setenv("MODEL_REGISTRY", str(path))
    assert "demo-resnet" in known_models()
    assert registry_errors()[0].startswith(f"The model registry {path} is not readable JSON")


def test_command_line_takes_a_model_path_with_what_the_file_does_not_say(tmp_path, capsys):
    image = tmp_path / "noise.png"
    image.write_bytes(encode_png(np.random.default_rng(3).integers(0, 256, (40, 50, 3), np.uint8)))
    model = str(FIXTURES / "keras2_nested.h5")
    argv = ["classify", "--model", model, "--labels", "cat, dog,fox", "--preprocess", "scale=1,offset=0"]
    assert main([*argv, "--top", "3", str(image)]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["model"] == "keras2_nested" and {p["label"] for p in line["predictions"]} == {"cat", "dog", "fox"}
    assert main(["classify", "--model", model, "--labels", "a,b", str(image)]) == 2
    assert "2 labels were given but keras2_nested.h5 has 3 classes" in capsys.readouterr().err


def test_explain_on_a_tflite_path_refuses_gradients_and_runs_lime(tmp_path, capsys):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    model_path = tmp_path / "tiny.tflite"
    model_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
    image = tmp_path / "noise.png"
    image.write_bytes(encode_png(np.random.default_rng(4).integers(0, 256, (16, 16, 3), np.uint8)))
    base = ["explain", "--model", str(model_path), "--labels", "no,yes", "--out", str(tmp_path / "out")]
    assert main([*base, "--method", "gradcam", str(image)]) == 2
    error = capsys.readouterr().err
    assert "Grad-CAM needs gradients, and tiny is a TensorFlow Lite file" in error and error.count("\n") == 1
    assert main([*base, "--method", "lime", "--param", "num_samples=16", str(image)]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["model"] == "tiny" and record["target"] in ("no", "yes") and record["map_size"] == [16, 16]
