"""The sanity check on a model whose format exposes no weights to randomise (TensorFlow Lite): one sentence on the
page and from the command line, naming the model, saying why and what to use instead."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.__main__ import main
from core.images import encode_png


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory):
    """A tiny two-class TensorFlow Lite model, 16×16 RGB: cheap to convert and to load."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
    return path


def _sanity_section_of_a_tflite_model():
    import streamlit as st

    from dashboard import trust_panels

    st.session_state["sanity_found"] = trust_panels.run_sanity([], ["tiny"], {}, "saliency", {}, 3, key="formats")


def test_the_sanity_section_says_in_one_sentence_why_a_tflite_model_is_left_out(tflite_file, monkeypatch):
    from core.scoring import load_model
    from core.spec import spec_from_file
    from dashboard import state

    model = load_model(spec_from_file(tflite_file, labels="no,yes"))
    assert not model.differentiable
    monkeypatch.setattr(state, "get_model", lambda name: {"tiny": model}[name])
    app = AppTest.from_function(_sanity_section_of_a_tflite_model, default_timeout=60).run()
    assert not app.exception, app.exception
    notes = [i.value for i in app.info]
    assert notes == [
        "The sanity check cannot run on tiny: it is a TensorFlow Lite file, whose format does not expose weights "
        "that can be randomised; run it on the model's .keras file instead."
    ]
    assert app.session_state["sanity_found"] == {}  # nothing to run, and no button offering to run it
    assert not app.button


def test_the_sanity_command_on_a_tflite_model_is_one_sentence_and_status_2(tflite_file, tmp_path, capsys):
    image = tmp_path / "noise.png"
    image.write_bytes(encode_png(np.random.default_rng(4).integers(0, 256, (16, 16, 3), np.uint8)))
    argv = ["sanity", "--model", str(tflite_file), "--labels", "no,yes", "--method", "saliency"]
    assert main([*argv, "--out", str(tmp_path / "out"), str(image)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "error: The sanity check cannot run on tiny: it is a TensorFlow Lite file, whose format does not expose "
        "weights that can be randomised; run it on the model's .keras file instead.\n"
    )
    assert captured.out == "" and not (tmp_path / "out").exists()
