"""The comparison behind the report, and the HTML report itself: self-contained, every picture decodable."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from core.__main__ import main
from core.explain import METHODS
from core.images import image_from_array
from core.render import PER_IMAGE, PER_MAP, colour_limits
from core.report import compare, render_report
from core.samples import sample_images


class _Collector(HTMLParser):
    """Every tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def _images_of(collector: _Collector, colour_bars: bool = False) -> list[Image.Image]:
    """The embedded pictures, decoded: the images and overlays, or (`colour_bars`) the colour bars."""
    pictures = []
    for tag, attrs in collector.tags:
        if tag == "img" and (attrs["alt"] == "colour bar") == colour_bars:
            header, _, payload = attrs["src"].partition(",")
            assert header in ("data:image/jpeg;base64", "data:image/png;base64"), header
            picture = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
            picture.load()  # raises on a truncated or corrupt image
            pictures.append(picture)
    return pictures


@pytest.fixture(scope="module")
def comparison(bundled_models):
    samples = sample_images()
    chosen = [samples[0], samples[1], samples[8]]
    models = [bundled_models["demo-resnet"], bundled_models["demo-efficientnet"]]
    result = compare(models, [s.image for s in chosen], ["saliency", "gradcam"], percent=15)
    return replace(result, true_labels=tuple(s.label for s in chosen), true_boxes=tuple(s.box for s in chosen))


def test_comparison_explains_every_image_with_every_model_and_method(comparison):
    assert len(comparison.images) == 3 and comparison.pair
    for key in [(m, method) for m in ("demo-resnet", "demo-efficientnet") for method in ("saliency", "gradcam")]:
        results = comparison.explanations[key]
        assert len(results) == 3 and all(np.isfinite(r.map).all() for r in results)
    scores = comparison.agreements("gradcam")
    assert len(scores) == 3 and all(-1 <= s.rank_correlation <= 1 and 0 <= s.top_iou <= 1 for s in scores)
    assert all(s.top_percent == 15 for s in scores)


def test_report_embeds_every_picture_and_needs_nothing_from_outside(comparison):
    page = render_report(comparison)
    parsed = _parse(page)
    pictures = _images_of(parsed)
    # Per image: the image itself, then 2 models × 2 methods overlays; and the colour bar of each method.
    assert len(pictures) == 3 * (1 + 2 * 2)
    assert all(p.width > 100 and p.height > 100 for p in pictures)
    assert len(_images_of(parsed, colour_bars=True)) == 3 * 2
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name in ("src", "href", "srcset", "poster", "data"):
            assert not attrs.get(name) or attrs[name].startswith(("data:", "#")), (tag, name, attrs[name][:40])
    assert "url(" not in page and "@import" not in page and "http://" not in page and "https://" not in page
    text = " ".join(parsed.text)
    for needed in ("demo-resnet", "demo-efficientnet", "Gradient saliency", "Grad-CAM", "Same pixel ranking",
                   "Model cards", "Parameters", "generated-1-other-dog.png", "true class: dachshund",
                   comparison.created.strftime("%Y-%m-%d")):  # fmt: skip
        assert needed in text, needed
    assert "@media print" in page


def test_report_shows_each_map_on_its_own_scale_unless_shared_and_says_which(comparison):
    own, shared = (" ".join(_parse(render_report(comparison, shared=flag)).text) for flag in (False, True))
    assert own.count("(this map's own)") == 3 * 2 * 2 and "Colour scale: each map its own" in own
    assert shared.count("(shared by this image's maps)") == 3 * 2 * 2 and "Colour scale: shared by the maps" in shared
    # Under each method's colour bar (two unsigned methods here), what its colours mean.
    assert own.count(f"Colours: {METHODS['gradcam'].legend}") == 3 * 2


def test_report_says_when_a_map_is_zero_everywhere_and_what_to_try(comparison):
    blank = replace(comparison.explanations[("demo-resnet", "gradcam")][0], map=np.zeros((160, 160), np.float32))
    explanations = dict(comparison.explanations)
    explanations[("demo-resnet", "gradcam")] = [blank, *explanations[("demo-resnet", "gradcam")][1:]]
    text = " ".join(_parse(render_report(replace(comparison, explanations=explanations))).text)
    assert text.count(METHODS["gradcam"].blank_sentence(blank.target_label)) == 1
    assert "zero everywhere: nothing to colour" in text


def test_report_escapes_names_that_come_from_users(bundled_models):
    hostile = image_from_array(np.full((40, 40, 3), 128, np.uint8), "<img src=x onerror=alert(1)>.png")
    result = compare([bundled_models["demo-efficientnet"]], [hostile], ["gradcam"])
    page = render_report(result)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert len(_images_of(_parse(page))) == 2  # one model: the image and one overlay


def test_numbers_download_as_json_and_csv_with_one_row_per_image_and_method(comparison):
    record = json.loads(comparison.as_json())
    assert record["models"] == ["demo-resnet", "demo-efficientnet"]
    assert len(record["rows"]) == 6 and set(record["mean_agreement"]) == {"saliency", "gradcam"}
    rows = list(csv.DictReader(io.StringIO(comparison.as_csv())))
    assert len(rows) == 6
    assert {"image", "method", "prediction_a", "prediction_b", "rank_correlation", "box_iou"} <= set(rows[0])
    assert rows[0]["top_15_percent_iou"] == str(record["rows"][0]["top_15_percent_iou"])


def test_report_of_models_with_different_classes_says_so_and_which_class_each_map_explains(bundled_models):
    sample = sample_images()[0]  # a generated other dog
    pair = [bundled_models["demo-resnet"], bundled_models["demo-efficientnet"]]  # a report compares two models
    result = compare(pair, [sample.image], ["gradcam"])
    # The same two models, as if model B chose between a beagle and a dachshund: the comparison reads the class
    # names from the specs, the predictions and the explanations.
    b = result.models[1]
    renamed = replace(b, labels=("beagle", "dachshund"))
    explanations = {(name, method): value for (name, method), value in result.explanations.items()}
    b_result = explanations[(b.name, "gradcam")][0]
    explanations[(b.name, "gradcam")] = [replace(b_result, target_label="beagle")]
    predictions = dict(result.predictions)
    predictions[b.name] = [[replace(p, label="beagle" if p.label == "other dog" else p.label)
                           for p in predictions[b.name][0]]]  # fmt: skip
    changed = replace(result, models=(result.models[0], renamed), explanations=explanations, predictions=predictions)
    text = " ".join(_parse(render_report(changed)).text)
    assert "The models choose among different classes" in text
    assert "they share 1 (dachshund)" in text
    score = changed.agreements("gradcam")[0]
    assert score.explained_b == "beagle" and not score.same_class
    assert "The maps explain different classes" in text
    assert json.loads(changed.as_json())["same_classes"] is False


def test_shared_colour_scale_is_one_limit_for_the_pair():
    weak, strong = np.full((4, 4), 0.1, np.float32), np.full((4, 4), 10.0, np.float32)
    pair = {("model a", 0): weak, ("model b", 0): strong}  # the report's policy: shared by the pair, or per model
    assert list(colour_limits(pair, False, PER_IMAGE).values()) == [10.0, 10.0]
    assert list(colour_limits(pair, False, PER_MAP).values()) == pytest.approx([0.1, 10.0])


def test_report_command_writes_html_json_and_csv_for_a_folder_of_images(tmp_path, capsys):
    paths = []
    for sample in sample_images()[:2]:
        path = tmp_path / sample.image.name
        Image.fromarray(sample.image.pixels).save(path)
        paths.append(str(path))
    out = tmp_path / "out" / "report.html"
    argv = ["report", "--model", "demo-resnet", "--model", "demo-efficientnet", "--method", "gradcam"]
    assert main([*argv, "--method", "saliency", "--out", str(out), *paths]) == 0
    assert len(_images_of(_parse(out.read_text()))) == 2 * (1 + 2 * 2)
    assert len(json.loads(out.with_suffix(".json").read_text())["rows"]) == 4
    assert out.with_suffix(".csv").read_text().count("\n") == 5


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "demo-resnet", "--method", "nope"], "no method called 'nope'"),
        (["--model", "demo-resnet", "--method", "lime", "--param", "steps=3"], "no chosen method has the parameter"),
        (
            ["--model", "demo-resnet", "--method", "smoothgrad", "--param", "noise=-1"],
            "the noise of smoothgrad must be a number of at least 0.0, not -1.0.",
        ),
        (
            "--model demo-resnet --method gradcam --param layer=none --method lime --param seed=x".split(),
            "the seed of lime must be a whole number from 0 to 2147483647, not 'x'.",
        ),
        (["--model", "missing", "--method", "gradcam"], "no model called 'missing'"),
    ],
)
def test_report_command_refuses_bad_options_in_one_line(tmp_path, capsys, extra, message):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    assert main(["report", *extra, "--out", str(tmp_path / "r.html"), str(image)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error.lower() and error.count("\n") == 0
