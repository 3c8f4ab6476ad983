"""Hostile model files, built here as an attacker would: each is refused in one sentence through the Python
API, the command line and the dashboard form, before any of its operations runs, and nothing is written."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ModelError, UntrustedModelError
from core.images import encode_png
from core.model_safety import ALLOWED_OP_GROUPS, ALLOWED_OPS, savedmodel_refusal
from core.scoring import load_model
from core.spec import spec_from_file

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
# Each hostile serving function's extra deed (see `hostile_savedmodel`): the operation that gives it away and
# the function it is found in (a tf.cond's If is allowed; the WriteFile in its branch is not).
HOSTILE = {
    "WriteFile": ("WriteFile", "serve"),
    "ReadFile": ("ReadFile", "serve"),
    "MatchingFiles": ("MatchingFiles", "serve"),
    "PyFunc": ("PyFunc", "serve"),
    "If": ("WriteFile", "cond_true"),
}


def hostile_savedmodel(folder: Path, kind: str, target: Path) -> Path:
    """An 8×8 RGB → 3-class SavedModel whose serving function also does `HOSTILE[kind]` with `target`."""
    import tensorflow as tf

    class Hostile(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(tf.eye(3))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
        def serve(self, pixels):
            scores = tf.matmul(tf.reduce_mean(pixels, axis=[1, 2]) / 255.0, self.weights)
            if kind == "WriteFile":
                tf.io.write_file(str(target), "written by a model")
            elif kind == "ReadFile":
                scores += tf.cast(tf.strings.length(tf.io.read_file(str(target))), tf.float32) * 0.0
            elif kind == "MatchingFiles":
                scores += tf.cast(tf.size(tf.io.matching_files(str(target.parent / "*"))), tf.float32) * 0.0
            elif kind == "PyFunc":
                scores = tf.reshape(tf.numpy_function(lambda a: a, [scores], tf.float32), (-1, 3))
            elif kind == "If":

                def write():
                    tf.io.write_file(str(target), "written by a branch")
                    return tf.constant(0.0)

                scores += tf.cond(tf.reduce_sum(pixels) >= 0, write, lambda: tf.constant(0.0))
            return {"scores": tf.nn.softmax(scores)}

    module = Hostile()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def flex_tflite(path: Path, target: Path) -> Path:
    """A .tflite file that writes `target` through a Select TensorFlow (Flex) operation."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32)])
    def serve(pixels):
        tf.io.write_file(str(target), "written by a TFLite model")
        return tf.nn.softmax(tf.reduce_mean(pixels, axis=[1, 2]))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], None)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path.write_bytes(converter.convert())
    return path


def zipped(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as out:
        for item in folder.rglob("*"):
            out.write(item, f"{folder.name}/{item.relative_to(folder)}")
    return archive


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Every hostile model, and the file each would write or read (`target`, absent at the start)."""
    folder = tmp_path_factory.mktemp("hostile")
    target = folder / "written-by-the-model.py"
    models = {kind: hostile_savedmodel(folder / kind, kind, target) for kind in HOSTILE}
    models["flex"] = flex_tflite(folder / "flex.tflite", target)
    assert not target.exists()  # saving traces the functions; nothing ran
    return models, target


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_savedmodel_with_an_operation_outside_the_allowlist_is_refused_before_it_runs(hostile, kind):
    models, target = hostile
    with pytest.raises(UntrustedModelError) as caught:
        spec_from_file(models[kind], labels=["a", "b", "c"])
    message = str(caught.value)
    op, function = HOSTILE[kind]
    assert f"runs the TensorFlow operation {op} (in its function {function}" in message and "\n" not in message
    assert message.endswith("by marking it trusted (--trusted).")
    assert not target.exists()


def test_with_trust_given_the_savedmodel_loads_and_runs_as_written(tmp_path):
    target = tmp_path / "written.txt"
    folder = hostile_savedmodel(tmp_path / "trusted", "WriteFile", target)
    model = load_model(spec_from_file(folder, labels=["a", "b", "c"], trusted=True))
    assert model.probabilities(np.zeros((2, 8, 8, 3), np.float32)).shape == (2, 3)
    assert target.read_text() == "written by a model"  # the person loading it chose to let it


@pytest.mark.slow
def test_the_command_line_refuses_each_hostile_model_in_one_line(hostile, tmp_path):
    models, target = hostile
    image = tmp_path / "image.png"
    image.write_bytes(encode_png(np.full((8, 8, 3), 128, np.uint8)))
    for kind, expected in (("WriteFile", "WriteFile"), ("PyFunc", "PyFunc"), ("flex", "WriteFile")):
        run = subprocess.run(
            [sys.executable, "-m", "core", "classify", "--model", str(models[kind]), "--labels", "a,b,c", str(image)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        lines = [line for line in run.stderr.splitlines() if line.startswith("error")]
        assert run.returncode == 2 and not run.stdout, run.stderr
        assert len(lines) == 1 and expected in lines[0]
        assert not target.exists()


def test_a_tflite_file_with_select_tensorflow_ops_is_refused_in_plain_words(hostile):
    models, target = hostile
    for trusted in (False, True):  # this interpreter cannot run them at all
        with pytest.raises(ModelError) as caught:
            spec_from_file(models["flex"], labels=["a", "b", "c"], trusted=trusted)
        assert str(caught.value) == (
            "flex.tflite needs TensorFlow operations that a TensorFlow Lite interpreter cannot run safely here: "
            "WriteFile; convert the model with built-in operations only."
        )
    assert not target.exists()


@pytest.mark.slow
def test_savedmodels_written_by_keras_export_pass_the_check(tmp_path):
    for name in ("demo-resnet", "demo-efficientnet"):
        folder = tmp_path / name
        load_model(name).model.export(str(folder), verbose=False)
        assert savedmodel_refusal(folder) is None
    original = load_model("demo-efficientnet")
    exported = load_model(spec_from_file(tmp_path / "demo-efficientnet", labels=list(original.spec.labels)))
    pixels = np.random.default_rng(0).uniform(0, 255, (3, *original.spec.input_size, 3)).astype(np.float32)
    assert exported.spec.format == "savedmodel"
    np.testing.assert_allclose(exported.probabilities(pixels), original.probabilities(pixels), atol=1e-5)


def test_a_zip_with_a_path_outside_its_folder_is_refused_before_extraction(tmp_path):
    archive = tmp_path / "escape.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model/saved_model.pb", b"")
        out.writestr("../escaped.py", b"print('escaped')")
    with pytest.raises(ModelError, match=r"would land outside its folder \(\.\./escaped\.py\)"):
        spec_from_file(archive)
    assert not (tmp_path.parent / "escaped.py").exists()


def test_a_zip_bomb_is_refused_before_extraction(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("model/saved_model.pb", b"")
        out.writestr("model/variables/variables.data-00000-of-00001", bytes(40_000_000))
    assert archive.stat().st_size < 100_000
    with pytest.raises(ModelError, match=r"unpacks to [\d,]+ times its size, which only a zip bomb does"):
        spec_from_file(archive)
    monkeypatch.setenv("MODEL_MAX_BYTES", str(10**7))
    with pytest.raises(ModelError, match="unpacks to 40 MB, more than the 10 MB this app loads"):
        spec_from_file(archive)


def test_the_allowlist_in_docs_is_the_one_in_code():
    text = (ROOT / "docs" / "model-safety.md").read_text()
    listed = set(re.findall(r"`([A-Za-z0-9_]+)`", text))
    assert ALLOWED_OPS <= listed, sorted(ALLOWED_OPS - listed)
    for group in ALLOWED_OP_GROUPS:
        assert f"**{group}**" in text


def test_the_dashboard_form_refuses_hostile_uploads_in_one_sentence(hostile, tmp_path):
    models, target = hostile
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    uploads = [
        ("hostile.zip", zipped(models["WriteFile"], tmp_path / "hostile.zip").read_bytes(), "WriteFile"),
        ("flex.tflite", models["flex"].read_bytes(), "WriteFile"),
    ]
    for name, data, op in uploads:
        app.sidebar.file_uploader(key="own_model_file").set_value((name, data, "application/octet-stream"))
        app.text_input(key="own_model_labels").set_value("a, b, c")
        next(b for b in app.sidebar.button if b.label == "Add model").click().run()
        assert not app.exception, app.exception
        errors = [e.value for e in app.sidebar.error]
        assert len(errors) == 1 and op in errors[0] and "\n" not in errors[0], errors
        assert app.selectbox(key="model_a").value == "demo-resnet"
        assert errors[0].endswith("(tick “I trust this file”)." if name.endswith(".zip") else "operations only.")
    assert not target.exists()


def test_the_server_operator_can_switch_off_trusting_uploads(monkeypatch, tmp_path):
    from dashboard import state

    archive = zipped(hostile_savedmodel(tmp_path / "mine", "WriteFile", tmp_path / "written.txt"), tmp_path / "m.zip")
    monkeypatch.setenv(state.TRUST_UPLOADS_VARIABLE, "0")
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert app.checkbox(key="own_model_trusted").disabled
    app.sidebar.file_uploader(key="own_model_file").set_value(("m.zip", archive.read_bytes(), "application/zip"))
    app.text_input(key="own_model_labels").set_value("a, b, c")
    app.session_state["own_model_trusted"] = True  # even a forged tick is ignored
    next(b for b in app.sidebar.button if b.label == "Add model").click().run()
    errors = [e.value for e in app.sidebar.error]
    assert errors == [
        "m.zip runs the TensorFlow operation WriteFile (in its function serve), which is not pure computation: it "
        "may reach files, the environment, the network or Python code; this server does not load such files."
    ]
    assert not (tmp_path / "written.txt").exists()
