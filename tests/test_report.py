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
    """Every tag with its attributes, the page's text, the trust checks' tables and the charts' lines."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []  # each trust table (class trust-table): its rows of cell texts
        self.polylines: list[str] = []  # the points of every line drawn in a chart
        self._open = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table" and attrs.get("class") == "trust-table":
            self._open = True
            self.tables.append([])
        elif self._open and tag == "tr":
            self.tables[-1].append([])
        elif self._open and tag in ("th", "td"):
            self._cell = []
        elif tag == "polyline":
            self.polylines.append(attrs["points"])

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._open = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


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


def _assert_self_contained(page: str, parsed: _Collector) -> None:
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name in ("src", "href", "srcset", "poster", "data"):
            assert not attrs.get(name) or attrs[name].startswith(("data:", "#")), (tag, name, attrs[name][:40])
    assert "url(" not in page and "@import" not in page and "http://" not in page and "https://" not in page


def test_report_embeds_every_picture_and_needs_nothing_from_outside(comparison):
    page = render_report(comparison)
    parsed = _parse(page)
    pictures = _images_of(parsed)
    # Per image: the image itself, then 2 models × 2 methods overlays; and the colour bar of each method.
    assert len(pictures) == 3 * (1 + 2 * 2)
    assert all(p.width > 100 and p.height > 100 for p in pictures)
    assert len(_images_of(parsed, colour_bars=True)) == 3 * 2
    _assert_self_contained(page, parsed)
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


# --- the trust checks in the report ---------------------------------------------------------------------------

TRUST_STEPS = 5  # few steps: the numbers are compared with core.trust's for the same steps, not judged


@pytest.fixture(scope="module")
def checked(bundled_models):
    """A generated sample (which knows its box and parts) and a photo (which does not), both models, Grad-CAM, with
    every map's trust checks."""
    from core.report import check_trust

    sample, photo = sample_images()[0], sample_images()[8]
    models = [bundled_models["demo-resnet"], bundled_models["demo-efficientnet"]]
    plain = compare(models, [sample.image, photo.image], ["gradcam"])
    plain = replace(plain, true_labels=(sample.label, photo.label), true_boxes=(sample.box, photo.box))
    return plain, check_trust(plain, models, [sample.truth, None], steps=TRUST_STEPS), (sample, photo)


def _core_checks(model, image, result, truth):
    """What core.trust says of that map, computed here without the report."""
    from core.trust.faithfulness import faithfulness_report
    from core.trust.localisation import localisation_report

    pixels = model.spec.resize([image.pixels])[0]
    faith = faithfulness_report(model, pixels, result.target, result.map, steps=TRUST_STEPS)
    return faith, None if truth is None else localisation_report(result.map, truth)


def test_report_with_checks_shows_each_maps_numbers_beside_its_references_as_core_trust_computes_them(
    checked, bundled_models
):
    from core.trust.words import deletion_sentence, energy_sentence, insertion_sentence, parts_sentence

    _, report, (sample, photo) = checked
    page = render_report(report)
    parsed = _parse(page)
    _assert_self_contained(page, parsed)
    text = " ".join(parsed.text)
    tables = iter(parsed.tables)
    lines = iter(parsed.polylines)
    for image, truth in ((sample.image, sample.truth), (photo.image, None)):  # images in order, models A then B
        index = 0 if truth is not None else 1
        for name in ("demo-resnet", "demo-efficientnet"):
            result = report.explanations[(name, "gradcam")][index]
            faith, local = _core_checks(bundled_models[name], image, result, truth)
            references = [faith.map, faith.references["random"], faith.references["centre"]]
            assert next(tables) == [
                ["", "this map", "random map", "centred blob"],
                ["Deletion AUC ↓", *(f"{f.deletion_auc:.3f}" for f in references)],
                ["Insertion AUC ↑", *(f"{f.insertion_auc:.3f}" for f in references)],
            ]
            assert deletion_sentence(faith, result.target_label) in text
            assert insertion_sentence(faith, result.target_label) in text
            # The chart: deletion (solid) and insertion (dashed) of the map and of each reference, the map's first.
            drawn = [next(lines) for _ in range(2 * len(references))]
            heights = [float(point.split(",")[1]) for point in drawn[0].split()]
            side, pad = 240, 34
            np.testing.assert_allclose([(side - pad - y) / (side - 2 * pad) for y in heights], faith.map.deletion,
                                       atol=0.005)  # fmt: skip
            if local is None:
                continue
            places = [local.map, *(local.references[n] for n in ("random", "centre", "uniform"))]
            shown = next(tables)
            assert shown[0] == ["", "this map", "random map", "centred blob", "uniform map"]
            assert shown[1][1] == ("hit" if local.map.pointing_hit else "miss")
            assert shown[1][4] == f"{local.references['uniform'].pointing_hit:.0%} chance"
            assert shown[2] == ["Energy in the box", *(f"{p.energy_in_box:.3f}" for p in places)]
            assert shown[3] == ["Box IoU", *(f"{p.box_iou:.3f}" for p in places)]
            assert energy_sentence(local) in text
            parts = next(tables)  # each part's share of the map beside its area
            areas = local.references["uniform"].parts
            assert parts[1:] == [[k, f"{v:.0%}", f"{areas[k]:.0%}"] for k, v in local.map.parts.items()]
            assert parts_sentence(local) in text
    assert next(tables, None) is None  # the photo knows no box: no localisation table for it


def test_report_numbers_with_checks_hold_core_trusts_numbers_and_their_means(checked, bundled_models):
    from core.trust.summary import summarise

    _, report, (sample, _) = checked
    record = json.loads(report.as_json())
    assert record["trust"] == {"substrate": "blur", "steps": TRUST_STEPS, "random_maps": 3}
    first = record["rows"][0]  # the generated sample
    pairs = {}
    for letter, name in (("a", "demo-resnet"), ("b", "demo-efficientnet")):
        result = report.explanations[(name, "gradcam")][0]
        faith, local = _core_checks(bundled_models[name], sample.image, result, sample.truth)
        assert first[f"deletion_auc_{letter}"] == round(faith.map.deletion_auc, 4)
        assert first[f"deletion_auc_random_{letter}"] == round(faith.references["random"].deletion_auc, 4)
        assert first[f"insertion_auc_centre_{letter}"] == round(faith.references["centre"].insertion_auc, 4)
        assert first[f"energy_in_box_{letter}"] == round(local.map.energy_in_box, 4)
        assert first[f"box_area_{letter}"] == round(local.references["uniform"].energy_in_box, 4)
        pairs[name] = [(faith, local)]
    assert "energy_in_box_a" not in record["rows"][1]  # the photo: no truth, no localisation
    csv_rows = list(csv.DictReader(io.StringIO(report.as_csv())))
    assert float(csv_rows[0]["deletion_auc_b"]) == first["deletion_auc_b"]
    # The means over the images: the same as core.trust.summary's over the same checks.
    means = record["mean_trust"]["gradcam"]["demo-resnet"]
    result = report.explanations[("demo-resnet", "gradcam")][1]
    pairs["demo-resnet"].append(_core_checks(bundled_models["demo-resnet"], sample_images()[8].image, result, None))
    expected = summarise(pairs["demo-resnet"])
    assert means["deletion_auc"] == round(expected["deletion_auc"], 4) and means["with_box"] == 1
    assert means["energy_in_box"] == round(expected["energy_in_box"], 4)


def test_report_without_checks_is_the_report_it_was(checked):
    plain, report, _ = checked
    page = render_report(plain)
    assert render_report(replace(report, trust={})) == page  # the checks leave nothing behind when taken away
    text = " ".join(_parse(page).text)
    for absent in ("Can the maps be trusted?", "Deletion AUC", "Is the map true to the model?", "trust-table", "<svg"):
        assert absent not in page and absent not in text, absent
    assert render_report(report) != page
    record = json.loads(plain.as_json())
    assert "trust" not in record and "mean_trust" not in record
    assert list(record["rows"][0]) == [
        "image", "sha256", "method", "model_a", "prediction_a", "probability_a", "target_a", "box_a", "seconds_a",
        "model_b", "prediction_b", "probability_b", "target_b", "box_b", "seconds_b", "rank_correlation",
        "top_10_percent_iou", "box_iou", "same_prediction", "same_class_explained",
    ]  # fmt: skip


def test_report_command_with_metrics_and_truth_holds_core_trusts_numbers(tmp_path, capsys, bundled_models):
    from core.explain import explain_images
    from core.trust.faithfulness import faithfulness_report, report_passes
    from core.trust.localisation import Truth, localisation_report

    sample = sample_images()[0]
    image = tmp_path / "dog.png"
    Image.fromarray(sample.image.pixels).save(image)
    truth = tmp_path / "annotations.json"
    truth.write_text(json.dumps([{"file": "dog.png", "box": [float(v) for v in sample.box]}]))
    out = tmp_path / "report.html"
    argv = ["report", "--model", "demo-efficientnet", "--method", "gradcam", "--metrics", "--truth", str(truth)]
    assert main([*argv, "--steps", str(TRUST_STEPS), "--substrate", "black", "--out", str(out), str(image)]) == 0
    cost = [line for line in capsys.readouterr().err.splitlines() if "model passes in all" in line]
    assert cost == [f"trust checks: 1 map, {report_passes(0, TRUST_STEPS):,} model passes in all "
                    f"({report_passes(0, TRUST_STEPS):,} each)"]  # fmt: skip
    (row,) = json.loads(out.with_suffix(".json").read_text())["rows"]
    model = bundled_models["demo-efficientnet"]
    result = explain_images(model, [sample.image.pixels], "gradcam")[0]
    faith = faithfulness_report(model, model.spec.resize([sample.image.pixels])[0], result.target, result.map,
                                steps=TRUST_STEPS, substrate="black")  # fmt: skip
    local = localisation_report(result.map, Truth(tuple(float(v) for v in sample.box), sample.image.pixels.shape[:2]))
    assert row["deletion_auc_a"] == round(faith.map.deletion_auc, 4)
    assert row["insertion_auc_random_a"] == round(faith.references["random"].insertion_auc, 4)
    assert row["box_iou_a"] == round(local.map.box_iou, 4) and row["box_iou_uniform_a"] == round(
        local.references["uniform"].box_iou, 4
    )
    tables = _parse(out.read_text()).tables
    assert tables[0][1] == [
        "Deletion AUC ↓",
        *(f"{f.deletion_auc:.3f}" for f in (faith.map, *faith.references.values())),
    ]
    assert tables[1][2][:2] == ["Energy in the box", f"{local.map.energy_in_box:.3f}"]


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
        (["--model", "demo-resnet", "--method", "gradcam", "--truth", "a.json"], "--truth goes with --metrics"),
        (["--model", "demo-resnet", "--method", "gradcam", "--metrics", "--steps", "0"], "steps of at least 1, not 0"),
    ],
)
def test_report_command_refuses_bad_options_in_one_line(tmp_path, capsys, extra, message):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    assert main(["report", *extra, "--out", str(tmp_path / "r.html"), str(image)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error.lower() and error.count("\n") == 0
