"""A model's memory, estimated from the file before it runs: a hand-counted answer, refusal above the budget
through every front end, batches that fit, and out-of-memory errors as one sentence for that request only."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import memory, model_files
from core.classify import classify
from core.errors import ModelError
from core.explain import METHODS, explain_images
from core.images import encode_png
from core.memory import BUDGET_VARIABLE, MemoryEstimate, OutOfMemoryError
from core.scoring import LoadedModel, load_model
from core.spec import spec_from_file

ROOT = Path(__file__).resolve().parent.parent


def conv_classifier(keras, size: int, channels: int = 32, nested: bool = False):
    """size×size RGB -> Conv2D(channels, 3, same) -> global average pooling -> Dense(2, softmax)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv")
    if nested:
        base_input = keras.Input((size, size, 3))
        features = keras.Model(base_input, conv(base_input), name="base")(inputs)
    else:
        features = conv(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))


@pytest.mark.parametrize("nested", [False, True])
def test_the_estimate_of_a_small_network_is_its_hand_counted_bytes(keras, nested):
    model = conv_classifier(keras, 10, channels=4, nested=nested)
    estimate = memory.estimate(model)
    # Per image: input 10·10·3 + conv 10·10·4 + pooled 4 + dense 2 = 706 float32 values; a gradient keeps them
    # and adds one of each. Weights: conv 3·3·3·4 + 4, dense 4·2 + 2 = 122 float32 values.
    assert estimate == MemoryEstimate(weights=122 * 4, forward=706 * 4, differentiable=True)
    assert estimate.backward == 2 * 706 * 4 and estimate.largest == 122 * 4 + 2 * 706 * 4
    budget = 122 * 4 + 10 * 706 * 4
    assert estimate.batch_limit(gradients=False, budget=budget) == 10
    assert estimate.batch_limit(gradients=True, budget=budget) == 5


def test_savedmodel_and_tflite_estimates_count_every_operation_of_the_same_network(keras, tmp_path):
    import tensorflow as tf

    model = conv_classifier(keras, 64, channels=8)
    keras_bytes = memory.estimate(model).forward
    model.export(str(tmp_path / "saved"), verbose=False)
    (tmp_path / "m.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    saved = memory.estimate(model_files.open_model(tmp_path / "saved", "savedmodel"))
    tflite = memory.estimate(model_files.open_model(tmp_path / "m.tflite", "tflite"))
    # The same layers, plus each format's intermediate tensors (bias add, activation): at least the layers'
    # outputs, at most three times them; neither format can be differentiated here.
    for estimate in (saved, tflite):
        assert keras_bytes <= estimate.forward <= 3 * keras_bytes and not estimate.differentiable


def test_the_model_of_the_report_is_refused_at_the_default_budget(keras, tmp_path, monkeypatch):
    """A 3000×3000 input and one 32-channel convolution: a few kilobytes of file, over 2 GB per image."""
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    path = tmp_path / "wide.keras"
    conv_classifier(keras, 3000).save(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(ModelError) as caught:
        spec_from_file(path)
    # 2 × 4 bytes × (3000·3000·3 input + 3000·3000·32 convolution + 32 + 2) = 2.35 GiB; weights 4 × 962 = 3.8 kB.
    assert str(caught.value) == (
        "wide.keras needs about 2.3 GB of memory for one image (3.8 kB of weights, the rest for its layers' outputs "
        "and their gradients), more than this server's budget of 2.0 GB per model; whoever runs it can raise "
        "MODEL_MEMORY_BUDGET_MB (in MB)."
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 512×512 model: about 70 MB per image for a gradient, 35 MB for a prediction."""
    import keras

    path = tmp_path_factory.mktemp("memory") / "big.keras"
    conv_classifier(keras, 512).save(path)
    return path


@pytest.mark.slow
def test_a_model_over_a_small_budget_is_refused_in_python_and_on_the_command_line(big_file, monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, "50")
    with pytest.raises(ModelError, match=r"^big\.keras needs about 70 MB .* budget of 50 MB per model"):
        spec_from_file(big_file)
    image = big_file.parent / "image.png"
    image.write_bytes(encode_png(np.zeros((20, 20, 3), np.uint8)))
    run = subprocess.run(
        [sys.executable, "-m", "core", "classify", "--model", str(big_file), str(image)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, BUDGET_VARIABLE: "50"},
    )
    assert run.returncode == 2 and not run.stdout
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("error")]
    assert "needs about 70 MB of memory for one image" in line and "Traceback" not in run.stderr


def test_a_model_just_under_the_budget_runs_one_image_at_a_time(big_file, monkeypatch):
    from core.explain import gradients

    estimate = memory.estimate(model_files.open_model(big_file, "keras"))
    monkeypatch.setenv(BUDGET_VARIABLE, str((estimate.largest + 2**18) / 2**20))  # a quarter MB to spare
    model = load_model(spec_from_file(big_file, labels=["a", "b"]))
    assert model.batch(32, gradients=True) == 1 and model.batch(32) == 2
    sizes, original = [], gradients._batched

    def batched(step, pixels, targets, batch_size):
        sizes.append(batch_size)
        return original(step, pixels, targets, batch_size)

    monkeypatch.setattr(gradients, "_batched", batched)
    images = [np.full((40, 40, 3), value, np.uint8) for value in (0, 90, 200)]
    results = explain_images(model, images, "saliency")
    assert sizes == [1] and len(results) == 3 and all(r.map.shape == (512, 512) for r in results)
    passes = []

    def score_batch(self, pixels):
        passes.append(len(pixels))
        return np.zeros((len(pixels), 2), np.float32)

    monkeypatch.setattr(model, "_score_batch", lambda pixels: score_batch(model, pixels))
    classify(model, images)
    assert passes == [2, 1]


@pytest.mark.parametrize("failure", ["numpy", "tensorflow"])
def test_running_out_of_memory_inside_a_method_is_one_sentence_and_the_next_request_works(
    bundled_models, monkeypatch, failure
):
    import tensorflow as tf

    model = bundled_models["demo-resnet"]

    def exhausted(*args, **kwargs):
        if failure == "numpy":
            return np.empty(1 << 50, np.float32)  # a petabyte: NumPy refuses with MemoryError
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[64,160,160,64]")

    image = np.full((60, 60, 3), 120, np.uint8)
    monkeypatch.setitem(METHODS, "smoothgrad", dataclasses.replace(METHODS["smoothgrad"], function=exhausted))
    with pytest.raises(OutOfMemoryError) as caught:
        explain_images(model, [image], "smoothgrad")
    assert str(caught.value) == (
        "Explaining with demo-resnet (SmoothGrad) ran out of memory; try fewer images or a smaller number of samples "
        "or steps (the server and other requests are unaffected)."
    )
    monkeypatch.undo()
    assert load_model("demo-resnet") is model  # still loaded, nothing dropped or rebuilt
    (result,) = explain_images(model, [image], "smoothgrad", params={"samples": 2})
    assert np.isfinite(result.map).all() and result.map.max() > 0


def test_running_out_of_memory_while_loading_leaves_nothing_half_loaded(big_file, monkeypatch):
    from core import scoring

    spec = spec_from_file(big_file, labels=["x", "y"], name="big-once")

    def exhausted(self, pixels, batch_size=32):
        raise MemoryError

    monkeypatch.setattr(LoadedModel, "scores", exhausted)
    with pytest.raises(OutOfMemoryError, match=r"^Loading big-once ran out of memory"):
        load_model(spec)
    assert spec not in scoring._loaded
    assert not [key for key in model_files._cache if key[0] == str(big_file.resolve())]
    monkeypatch.undo()
    assert load_model(spec).batch(4) == 4  # the next request loads it afresh


def test_the_dashboard_form_refuses_a_model_over_the_budget_in_one_sentence(big_file, monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, "50")
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    app.run()
    app.sidebar.file_uploader(key="own_model_file").set_value(("big.keras", big_file.read_bytes(), "application/zip"))
    next(b for b in app.sidebar.button if b.label == "Add model").click().run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("big.keras needs about 70 MB of memory for one image")
    assert app.selectbox(key="model_a").value == "demo-resnet"
