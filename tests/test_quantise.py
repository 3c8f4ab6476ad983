"""Float16 TFLite export: the report, the card beside the file, and loading it back like any model."""

import json

import numpy as np
import pytest

from core import dataset
from core.__main__ import main
from core.errors import ModelError
from core.quantise import QuantiseReport, quantise
from core.scoring import load_model
from core.spec import spec_from_file


def test_quantise_reports_both_models_side_by_side_and_the_file_loads_back(tmp_path):
    images, _ = dataset.generate_batch(seed=61, count=4)
    out = tmp_path / "deploy" / "demo-resnet.tflite"
    report = quantise("demo-resnet", out, list(images))
    assert isinstance(report, QuantiseReport) and report.images == 4 and report.model == "demo-resnet"
    assert out.stat().st_size == report.tflite_bytes and report.size_ratio < 0.6  # float16 weights: about half
    assert report.top1_agreement == 1.0 and report.max_probability_difference < 0.02
    assert report.original_ms_per_image > 0 and report.tflite_ms_per_image > 0
    spec = spec_from_file(out)  # labels, preprocessing and output from the card written beside it
    original = load_model("demo-resnet").spec
    assert spec.format == "tflite" and not spec.differentiable
    assert (spec.labels, spec.preprocessing, spec.output, spec.input_size) == (
        original.labels,
        original.preprocessing,
        original.output,
        original.input_size,
    )
    # Its usual confidence travels with it: the float16 probabilities stay within a fraction of a percent.
    assert spec.card["familiarity"] == original.card["familiarity"]
    assert report.changed_images == ()
    pixels = original.resize(list(images))
    np.testing.assert_allclose(
        load_model(spec).probabilities(pixels), load_model("demo-resnet").probabilities(pixels), atol=0.02
    )


@pytest.mark.slow
def test_quantize_command_prints_the_report_as_json(tmp_path, capsys, monkeypatch):
    import core.samples

    few = core.samples.sample_images()[:2]
    monkeypatch.setattr(core.samples, "sample_images", lambda: few)
    out = tmp_path / "eff.tflite"
    assert main(["quantize", "--model", "demo-efficientnet", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # the converter's own chatter stays off stdout
    report = json.loads(lines[0])
    assert report["images"] == 2 and report["tflite_path"] == str(out) and report["top1_agreement"] == 1.0
    assert {"original_bytes", "tflite_bytes", "original_ms_per_image", "tflite_ms_per_image"} <= set(report)
    assert json.loads((tmp_path / "eff.json").read_text())["file"] == "eff.tflite"


@pytest.mark.slow
def test_only_keras_models_convert_and_the_output_must_be_tflite(tmp_path):
    with pytest.raises(ModelError, match="should end in .tflite"):
        quantise("demo-resnet", tmp_path / "x.h5")
    images, _ = dataset.generate_batch(seed=62, count=1)
    out = tmp_path / "once.tflite"
    quantise("demo-efficientnet", out, list(images))
    with pytest.raises(ModelError, match="is not a Keras model; only Keras models"):
        quantise(spec_from_file(out), tmp_path / "twice.tflite", list(images))


def test_quantize_command_compares_on_the_images_given(tmp_path, capsys):
    from core.images import encode_png

    paths = []
    for index in range(2):
        path = tmp_path / f"dog {index}.png"
        path.write_bytes(encode_png(dataset.generate(63, index).pixels))
        paths.append(str(path))
    out = tmp_path / "resnet.tflite"
    assert main(["quantize", "--model", "demo-resnet", "--out", str(out), *paths]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["images"] == 2 and report["changed_images"] == [] and report["top1_agreement"] == 1.0
