"""The ImageNet pair: known but not ready without weights, the download (progress, checksum, offline), the
class names shipped offline, and loading through the same code path from a local weights file."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from core import zoo
from core.catalog import BUNDLED, known_models
from core.errors import ModelError
from core.scoring import load_model


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def test_the_imagenet_class_names_ship_with_the_project():
    labels = zoo.imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 998  # "crane" and "maillot" appear twice, as in ImageNet
    spot_checks = {0: "tench", 207: "golden retriever", 251: "dalmatian", 285: "Egyptian cat", 999: "toilet tissue"}
    assert {index: labels[index] for index in spot_checks} == spot_checks
    # Byte for byte the file keras.applications' decode_predictions downloads (its pinned MD5).
    assert hashlib.md5(zoo.IMAGENET_LABELS.read_bytes()).hexdigest() == "c2c37ea517e94d9795004a39431a14cb"
    assert json.loads(zoo.IMAGENET_LABELS.read_text())["207"] == ["n02099601", "golden_retriever"]


def test_the_pair_is_known_after_the_bundled_models_and_not_ready_without_weights(empty_cache):
    specs = known_models()
    assert list(specs)[len(BUNDLED) : len(BUNDLED) + 2] == ["resnet50v2", "efficientnetb1"]
    for name, size in (("resnet50v2", (224, 224)), ("efficientnetb1", (240, 240))):
        spec = specs[name]
        assert not spec.ready and spec.path.parent == empty_cache and spec.format == "applications"
        assert spec.input_size == size and spec.output == "softmax" and len(spec.labels) == 1000 and spec.differentiable
    assert specs["resnet50v2"].preprocessing == "resnet_v2" and specs["efficientnetb1"].preprocessing == "efficientnet"
    with pytest.raises(ModelError, match="ImageNet weights of resnet50v2 are not downloaded yet"):
        load_model(specs["resnet50v2"])


def test_download_reports_progress_checks_the_file_and_caches_it(empty_cache, tmp_path):
    source = tmp_path / "weights.h5"
    source.write_bytes(np.random.default_rng(0).bytes(3_000_000))
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    spec = zoo.imagenet_models()[1]
    spec = dataclasses.replace(spec, card={**spec.card, "url": source.as_uri(), "md5": md5})
    seen = []
    path = zoo.download(spec, lambda done, total: seen.append((done, total)))
    assert path == spec.path and path.read_bytes() == source.read_bytes() and spec.ready
    assert seen[0][0] == 0 and seen[-1] == (3_000_000, 3_000_000) and len(seen) >= 3
    assert [name.name for name in empty_cache.iterdir()] == [path.name]  # no partial file left
    again = []
    zoo.download(spec, lambda done, total: again.append(done))
    assert again == [3_000_000]  # cached: nothing fetched


def test_a_damaged_download_is_refused_and_removed(empty_cache, tmp_path):
    source = tmp_path / "weights.h5"
    source.write_bytes(b"x" * 1000)
    spec = zoo.imagenet_models()[0]
    spec = dataclasses.replace(spec, card={**spec.card, "url": source.as_uri()})  # the real MD5 will not match
    with pytest.raises(ModelError, match="are damaged"):
        zoo.download(spec)
    assert not spec.ready and list(empty_cache.iterdir()) == []


def test_offline_download_is_one_sentence_and_nothing_else_breaks(empty_cache):
    spec = zoo.imagenet_models()[0]
    offline = dataclasses.replace(spec, card={**spec.card, "url": "http://127.0.0.1:9/resnet50v2.h5"})
    with pytest.raises(ModelError, match=r"could not be downloaded \(.*\); check the internet connection") as error:
        zoo.download(offline, timeout=5)
    assert "\n" not in str(error.value) and list(empty_cache.iterdir()) == []
    assert load_model("demo-resnet").spec.ready  # the bundled models still work


@pytest.mark.slow
def test_resnet50v2_loads_through_the_zoo_code_path_from_a_local_weights_file(keras, tmp_path):
    # The same constructor and spec as the download path, with weights written here instead of ImageNet's.
    keras.utils.set_random_seed(4)
    original = keras.applications.ResNet50V2(weights=None)
    weights = tmp_path / "resnet50v2.weights.h5"
    original.save_weights(weights)
    spec = dataclasses.replace(known_models()["resnet50v2"], path=weights)
    model = load_model(spec)
    assert (
        model.differentiable
        and model.units == 1000
        and len(model.model.get_layer(spec.gradcam_layer).output.shape) == 4
    )
    pixels = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    expected = original.predict(keras.applications.resnet_v2.preprocess_input(pixels.copy()), verbose=0)
    np.testing.assert_allclose(model.probabilities(pixels), expected, atol=1e-5)


def test_download_command_offline_is_one_line_on_stderr(empty_cache, capsys, monkeypatch):
    from core.__main__ import main

    real = zoo.imagenet_models

    def offline():
        return [
            dataclasses.replace(spec, card={**spec.card, "url": "http://127.0.0.1:9/" + spec.path.name})
            for spec in real()
        ]

    monkeypatch.setattr(zoo, "imagenet_models", offline)
    assert main(["download", "--model", "efficientnetb1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: The ImageNet weights of efficientnetb1 could not be downloaded")
    assert error.count("\n") == 1
