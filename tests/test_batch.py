"""Batch runs: the local engine end to end, resuming, failures as rows, the trust metrics' hook, the Ray engine on
a local Ray (in a subprocess with a time limit, as a Ray that cannot schedule its actors waits for ever) giving the
same rows and maps, and the Batch results page on a folder the local engine wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import dataset
from core.images import encode_png

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("demo-resnet", "demo-efficientnet")
RAY_SECONDS = 420  # a local Ray starts in about 5 s and these images take seconds; this only stops a hang


def _labelled_folder(folder: Path, count: int = 5) -> Path:
    """`count` generated dogs (one cropped to 160×100, so boxes are checked on a non-square image) listed in a CSV
    with their true labels, and one file that is not an image."""
    (folder / "pictures").mkdir(parents=True)
    rows = ["file,label"]
    for index in range(count):
        dog = dataset.generate(71, index)
        pixels = dog.pixels[:100] if index == 0 else dog.pixels
        (folder / "pictures" / f"{index}.png").write_bytes(encode_png(np.ascontiguousarray(pixels)))
        rows.append(f"pictures/{index}.png,{dataset.LABELS[dog.label]}")
    (folder / "pictures" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    rows.append("pictures/broken.png,dachshund")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv"


def _batch(*arguments: str) -> int:
    from core.__main__ import main

    return main(["batch", *arguments])


def _arguments(data: Path, out: Path, *extra: str) -> list[str]:
    models = [part for name in MODELS for part in ("--model", name)]
    return [*models, "--method", "gradcam", "--method", "saliency", "--data", str(data), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, bundled_models):
    folder = tmp_path_factory.mktemp("batch")
    data = _labelled_folder(folder / "set")
    out = folder / "out"
    assert _batch(*_arguments(data, out)) == 0
    return data, out


@pytest.mark.slow
def test_local_run_has_one_row_per_image_model_and_method_with_its_files(local_run):
    from core.batch import read_manifest

    data, out = local_run
    rows = pd.read_parquet(out / "explanations.parquet")
    assert len(rows) == 6 * 2 * 2
    assert sorted(rows.groupby(["model", "method"]).size().items()) == [
        ((model, method), 6) for model in sorted(MODELS) for method in ("gradcam", "saliency")
    ]
    good = rows[rows["status"] == "ok"]
    assert len(good) == 5 * 2 * 2 and good["error"].isna().all()
    labels = dict(line.split(",") for line in data.read_text().splitlines()[1:])
    assert (good["true_label"] == [labels[name] for name in good["name"]]).all()
    assert set(good[good["name"] == "pictures/0.png"][["width", "height"]].itertuples(index=False)) == {(160, 100)}
    assert (good["x0"] >= 0).all() and (good["x1"] <= good["width"]).all() and (good["x0"] < good["x1"]).all()
    assert (good["y0"] >= 0).all() and (good["y1"] <= good["height"]).all() and (good["y0"] < good["y1"]).all()
    assert (good["target_label"] == good["predicted_label"]).all() and good["probability"].between(0.5, 1).all()
    expected_params = [{"layer": None} if method == "gradcam" else {} for method in good["method"]]
    assert good["params"].map(json.loads).tolist() == expected_params
    for row in good.itertuples():
        raw = np.load(out / row.map)
        assert raw.dtype == np.float16 and raw.shape == (160, 160)
        assert (out / row.overlay).stat().st_size > 0
    manifest = read_manifest(out)
    assert manifest["engine"] == "local" and manifest["interrupted"] is False
    assert manifest["counts"] == {
        "rows": 24,
        "ok": 20,
        "error": 4,
        "images": 6,
        "computed_now": 24,
        "already_done": 0,
    }
    assert manifest["methods"] == {"gradcam": {"layer": None}, "saliency": {}}
    assert "tensorflow-cpu" in manifest["versions"] or "tensorflow" in manifest["versions"]
    assert not (out / "parts").exists() or not any((out / "parts").iterdir())  # combined


def test_each_row_holds_the_models_own_prediction_map_and_box(local_run, bundled_models):
    from core.boxes import fit_box
    from core.explain import explain
    from core.images import decode_image

    _, out = local_run
    rows = pd.read_parquet(out / "explanations.parquet")
    for row in rows[(rows["status"] == "ok") & (rows["name"].isin(["pictures/0.png", "pictures/3.png"]))].itertuples():
        model = bundled_models[row.model]
        image = decode_image(Path(row.image).read_bytes(), row.name)
        pixels = model.spec.resize([image.pixels])
        probabilities = model.probabilities(pixels)[0]
        assert row.target == probabilities.argmax()
        assert row.probability == pytest.approx(float(probabilities.max()), abs=1e-5)
        expected = explain(model, pixels, np.array([row.target]), row.method)[0]
        saved = np.load(out / row.map).astype(np.float32)
        assert np.abs(saved - expected).max() <= 2e-3 * np.abs(expected).max()
        box = fit_box(expected).scaled(image.width, image.height, 160, 160).box
        assert (row.x0, row.y0, row.x1, row.y1) == pytest.approx(box, abs=1e-3)


def test_an_unreadable_image_is_an_error_row_with_its_sentence(local_run):
    _, out = local_run
    rows = pd.read_parquet(out / "explanations.parquet")
    broken = rows[rows["name"] == "pictures/broken.png"]
    assert len(broken) == 4 and (broken["status"] == "error").all()
    assert set(broken["error"]) == {
        "broken.png is not an image this app can open; upload a PNG, JPEG, GIF, BMP, TIFF or WebP file."
    }
    assert broken["true_label"].tolist() == ["dachshund"] * 4 and broken["map"].isna().all()


def test_a_failing_method_is_an_error_row_and_the_other_methods_finish(tmp_path, bundled_models, capsys):
    data = _labelled_folder(tmp_path / "set", count=2)
    code = _batch(
        "--model", "demo-resnet", "--method", "gradcam", "--method", "saliency", "--param", "layer=no_such_layer",
        "--data", str(data), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    rows = pd.read_parquet(tmp_path / "out" / "explanations.parquet")
    readable = rows[rows["name"] != "pictures/broken.png"]
    assert (readable[readable["method"] == "saliency"]["status"] == "ok").all()
    gradcam = readable[readable["method"] == "gradcam"]
    assert len(gradcam) == 2 and (gradcam["status"] == "error").all()
    assert all("no_such_layer" in sentence for sentence in gradcam["error"])
    assert gradcam["predicted_label"].notna().all()  # the prediction is known even when the map failed


def test_a_run_cut_short_leaves_a_readable_table_and_the_rerun_computes_only_what_is_missing(
    tmp_path, bundled_models, monkeypatch
):
    from core.batch import Job, find_images, read_manifest, read_table, run_batch
    from core.batch import job as job_module
    from core.evaluation.scoring import model_stamp

    monkeypatch.setattr(job_module, "CHUNK", 2)
    monkeypatch.setattr("core.batch.local.CHUNK", 2)
    data = _labelled_folder(tmp_path / "set", count=5)
    specs = tuple(bundled_models[name].spec for name in MODELS)
    job = Job(specs, tuple(map(model_stamp, specs)), ("gradcam",), {"gradcam": {"layer": None}}, out=str(tmp_path))
    images = find_images(data)

    def stop_after_the_first_chunk(progress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(job, images, progress=stop_after_the_first_chunk)
    partial = read_table(tmp_path)
    assert len(partial) == 2 * 2 and (partial["status"] == "ok").all()
    assert read_manifest(tmp_path)["interrupted"] is True

    finished = run_batch(job, images)
    assert (finished.skipped, finished.computed) == (4, 8)  # the 4 rows of the first chunk were kept
    table = read_table(tmp_path)
    assert len(table) == 12 and (table["status"] == "ok").sum() == 10
    first = partial.set_index(["image", "model"])["map"]
    assert (table.set_index(["image", "model"]).loc[first.index, "map"] == first).all()

    again = run_batch(job, images)
    assert (again.skipped, again.computed) == (10, 2)  # only the unreadable image's two rows, which failed
    assert len(read_table(tmp_path)) == 12
    assert [run["counts"]["computed_now"] for run in read_manifest(tmp_path)["runs"]] == [4, 8, 2]


def test_metrics_come_from_the_trust_packages_hook_one_column_each(tmp_path, bundled_models, monkeypatch):
    seen = []

    def batch_metrics(model, pixels, targets, maps, method):
        seen.append((model.name, method, pixels.shape, maps.shape))
        return [{"deletion": float(m.mean()), "pointing": float(t)} for m, t in zip(maps, targets, strict=True)]

    monkeypatch.setattr("core.trust.batch_metrics", batch_metrics)
    data = _labelled_folder(tmp_path / "set", count=2)
    code = _batch("--model", "demo-resnet", "--method", "gradcam", "--data", str(data), "--out", str(tmp_path / "o"),
                  "--metrics")  # fmt: skip
    assert code == 0
    rows = pd.read_parquet(tmp_path / "o" / "explanations.parquet")
    good = rows[rows["status"] == "ok"]
    assert seen == [("demo-resnet", "gradcam", (2, 160, 160, 3), (2, 160, 160))]
    assert good["metric_pointing"].tolist() == good["target"].astype(float).tolist()
    means = [float(np.load(tmp_path / "o" / path).astype(np.float32).mean()) for path in good["map"]]
    assert good["metric_deletion"].to_numpy() == pytest.approx(means, rel=1e-2)


def test_localisation_metrics_of_hand_made_maps_are_known_answers():
    from core.dataset import PARTS
    from core.trust import batch_localisation
    from core.trust.localisation import Truth

    parts = np.zeros((40, 50), np.uint8)
    parts[10:30, 20:30] = PARTS.index("body")
    parts[10:20, 20:30] = PARTS.index("head")
    distractors = np.zeros((40, 50), bool)
    distractors[0:5, 40:50] = True
    truth = Truth((20, 10, 30, 30), (40, 50), parts, distractors, PARTS)  # 10 × 20 pixels of 50 × 40: 0.1

    inside = np.zeros((40, 50), np.float32)
    inside[12:18, 22:28] = 1.0  # on the head, inside the box
    found = batch_localisation(inside, truth)
    assert (found["pointing_hit"], found["energy_in_box"], found["box_area"]) == (1.0, 1.0, 0.1)
    assert found["part_head"] == 1.0 and found["part_body"] == found["part_background"] == 0.0
    assert 0 < found["box_iou"] <= 36 / 200  # the fitted box lies within the 6 × 6 square, inside the true box
    # A random pixel hits when it is within 3 pixels (15 at 224 pixels) of the box: more than the box, less than the
    # 16 × 26 rectangle around it.
    assert 0.1 < found["pointing_chance"] < 16 * 26 / 2000

    outside = np.zeros((40, 50), np.float32)
    outside[0:5, 40:50] = 1.0  # on the distractor in the corner, 10 pixels right of the box
    found = batch_localisation(outside, truth)
    assert (found["pointing_hit"], found["energy_in_box"], found["part_distractors"]) == (0.0, 0.0, 1.0)

    uniform = batch_localisation(np.ones((20, 25), np.float32), truth)  # on a coarser grid, resized to the image
    assert uniform["energy_in_box"] == pytest.approx(uniform["box_area"]) and uniform["pointing_hit"] == 0
    assert uniform["part_head"] == pytest.approx(0.05) and uniform["part_distractors"] == pytest.approx(0.025)

    assert batch_localisation(inside, None) == {}
    boxed = batch_localisation(inside, Truth((20, 10, 30, 30), (40, 50)))
    assert boxed["energy_in_box"] == 1.0 and not any(name.startswith("part_") for name in boxed)


def test_metrics_on_a_generated_set_give_each_row_its_localisation_against_the_sets_truth(tmp_path, bundled_models):
    from core.dataset import PARTS
    from core.explain import explain
    from core.trust.localisation import box_area_fraction, localisation, read_truths

    dataset.main(["--out", str(tmp_path / "set"), "--count", "3", "--seed", "8", "--size", "192"])
    code = _batch("--model", "demo-resnet", "--method", "gradcam", "--data", str(tmp_path / "set"),
                  "--out", str(tmp_path / "o"), "--metrics")  # fmt: skip
    assert code == 0
    rows = pd.read_parquet(tmp_path / "o" / "explanations.parquet")
    assert len(rows) == 3 and (rows["status"] == "ok").all()
    parts = {f"metric_part_{name}" for name in (*PARTS[1:-1], "distractors", "background")}  # no cue on these
    assert parts <= set(rows.columns) and "metric_part_cue" not in rows.columns
    truths = read_truths(tmp_path / "set" / "annotations.json")  # as `explain --truth` reads them, masks and all
    model = bundled_models["demo-resnet"]
    on_distractors = 0.0
    for row in rows.itertuples():
        truth = truths[Path(row.image).name].on(row.height, row.width)
        pixels = model.spec.resize([np.asarray(Image.open(row.image).convert("RGB"))])
        expected = localisation(explain(model, pixels, np.array([row.target]), "gradcam")[0], truth)
        assert row.metric_pointing_hit == expected.pointing_hit
        assert row.metric_energy_in_box == pytest.approx(expected.energy_in_box, abs=1e-4)
        assert row.metric_box_area == pytest.approx(box_area_fraction(truth.box, row.height, row.width))
        assert row.metric_box_iou == pytest.approx(expected.box_iou, abs=1e-3)
        shares = {name: getattr(row, f"metric_part_{name}") for name in expected.parts}
        assert shares == pytest.approx(expected.parts, abs=1e-4) and sum(shares.values()) == pytest.approx(1)
        on_distractors += shares["distractors"]
        assert row.metric_deletion_auc >= 0  # the faithfulness columns are still there
    assert on_distractors > 0  # the distractor masks were read: without them this share is 0


def test_a_csv_with_boxes_gives_box_metrics_without_parts_and_a_box_outside_the_image_is_the_rows_sentence(
    tmp_path, bundled_models, monkeypatch
):
    from core.trust.localisation import energy_in_box

    monkeypatch.setattr("core.trust.batch_metrics", lambda model, pixels, targets, maps, method: [{}] * len(maps))
    (tmp_path / "set").mkdir()
    lines = ["file,label,x0,y0,x1,y1"]
    for index, box in enumerate(["40,30,120,110", ",,,", "500,500,600,600"]):
        dog = dataset.generate(71, index)
        (tmp_path / "set" / f"{index}.png").write_bytes(encode_png(dog.pixels))
        lines.append(f"{index}.png,{dataset.LABELS[dog.label]},{box}")
    (tmp_path / "set" / "labels.csv").write_text("\n".join(lines) + "\n")
    code = _batch("--model", "demo-resnet", "--method", "gradcam", "--data", str(tmp_path / "set" / "labels.csv"),
                  "--out", str(tmp_path / "o"), "--metrics")  # fmt: skip
    assert code == 0
    rows = pd.read_parquet(tmp_path / "o" / "explanations.parquet").set_index("name")
    assert not any(column.startswith("metric_part_") for column in rows.columns)
    boxed = rows.loc["0.png"]
    assert boxed["status"] == "ok" and boxed["metric_box_area"] == pytest.approx(80 * 80 / 160**2)
    raw = np.load(tmp_path / "o" / boxed["map"]).astype(np.float32)
    assert boxed["metric_energy_in_box"] == pytest.approx(energy_in_box(raw, (40, 30, 120, 110)), abs=1e-3)
    assert rows.loc["1.png", "status"] == "ok" and np.isnan(rows.loc["1.png", "metric_energy_in_box"])
    outside = rows.loc["2.png"]
    assert outside["status"] == "error" and outside["error"] == (
        "The box [500.0, 500.0, 600.0, 600.0] is not a box inside a 160×160 image; give [x0, y0, x1, y1] with "
        "x0 < x1 and y0 < y1, in the image's pixels."
    )


def test_an_images_truth_reaches_a_ray_worker_as_it_left():
    from core.batch import BatchImage
    from core.batch.ray_engine import ITEM_COLUMNS, as_image, as_item

    image = BatchImage("/set/a.png", "a.png", "dachshund", None, (1.5, 2.0, 30.0, 40.0), "/set/p.png", "/set/d.png")
    item = as_item(image, [(0, "gradcam")])
    assert tuple(item) == ITEM_COLUMNS and all(value is None or isinstance(value, str) for value in item.values())
    assert as_image(item) == image
    assert as_image(as_item(BatchImage("/b.png", "b.png"), [])) == BatchImage("/b.png", "b.png")


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ("nowhere", "There is no file or folder at {tmp}/nowhere; give a folder, a CSV, annotations.json or a glob."),
        (
            "*.nothing",
            "The pattern {tmp}/*.nothing matches no image file (.png, .jpg, .jpeg, .gif, .bmp, .tif, .tiff, .webp).",
        ),  # fmt: skip
        (
            "empty",
            "{tmp}/empty holds no image file (.png, .jpg, .jpeg, .gif, .bmp, .tif, .tiff, .webp), in it or in "
            "its subfolders.",
        ),  # fmt: skip
    ],
)
def test_data_that_names_no_image_is_one_sentence(tmp_path, capsys, data, sentence):
    (tmp_path / "empty").mkdir()
    assert _batch("--model", "demo-resnet", "--method", "gradcam", "--data", str(tmp_path / data),
                  "--out", str(tmp_path / "out")) == 2  # fmt: skip
    assert capsys.readouterr().err.strip() == "error: " + sentence.format(tmp=tmp_path)


def test_a_folder_is_read_recursively_and_a_glob_matches_what_it_says(tmp_path):
    from core.batch import find_images

    for relative in ("a/1.png", "a/b/2.jpg", "3.png", ".hidden/4.png", "notes.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    assert [i.name for i in find_images(tmp_path)] == ["3.png", "a/1.png", "a/b/2.jpg"]
    assert all(i.true_label is None and Path(i.path).is_absolute() for i in find_images(tmp_path))
    assert [Path(i.name).name for i in find_images(f"{tmp_path}/**/*.png")] == ["3.png", "1.png"]


# --- the Ray engine on a Ray this test starts --------------------------------------------------------------------


def _run_with_time_limit(command: list[str], seconds: int) -> subprocess.CompletedProcess:
    """Runs `command` in its own process group and kills the whole group (Ray's processes included) at the limit."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the Ray run did not finish within {seconds} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_the_ray_engine_gives_the_same_rows_and_maps_as_the_local_engine(local_run, tmp_path):
    data, local_out = local_run
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "core", "batch", *_arguments(data, out, "--engine", "ray")]
    finished = _run_with_time_limit(command, RAY_SECONDS)
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 24 and summary["ok"] == 20 and summary["error"] == 4
    assert json.loads((out / "manifest.json").read_text())["engine"] == "ray"
    same = ["image", "name", "sha256", "width", "height", "true_label", "model", "model_stamp", "method", "params",
            "target", "target_label", "predicted_label", "map", "overlay", "status", "error"]  # fmt: skip
    _assert_same_results(local_out, out, same)


def _assert_same_results(expected_folder: Path, found_folder: Path, same: list[str]) -> None:
    """The two output folders hold the same rows (`same` columns equal, probabilities and boxes within float
    tolerance) and the same maps."""
    expected = pd.read_parquet(expected_folder / "explanations.parquet")
    found = pd.read_parquet(found_folder / "explanations.parquet")
    pd.testing.assert_frame_equal(found[same], expected[same])
    numbers = ["probability", "x0", "y0", "x1", "y1"]
    np.testing.assert_allclose(found[numbers].to_numpy(float), expected[numbers].to_numpy(float), atol=1e-3)
    for path in expected["map"].dropna():
        truth = np.load(expected_folder / path).astype(np.float32)
        np.testing.assert_allclose(np.load(found_folder / path).astype(np.float32), truth,
                                   atol=2e-3 * np.abs(truth).max())  # fmt: skip


# The Ray engine as the command runs it, but each Ray call takes two images, and the worker's second call writes
# its process id and images to the file named first, then waits until the test kills it. The subclass is defined in
# __main__, so Ray sends it to the worker by value; it holds only where no earlier worker held, so a worker that Ray
# restarted would carry on instead of waiting.
HELD_RUN = """
import json, os, sys, time
from pathlib import Path
from core.batch import ray_engine
from core.__main__ import main

HOLD = Path(sys.argv[1])


class Held(ray_engine.Explainer):
    calls = 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 2 and not HOLD.exists():
            scratch = HOLD.with_suffix(".tmp")
            scratch.write_text(json.dumps({"pid": os.getpid(), "images": batch.column("path").to_pylist()}))
            scratch.rename(HOLD)
            while True:
                time.sleep(1)
        return super().__call__(batch)


ray_engine.Explainer = Held
ray_engine.RAY_BATCH = 2
sys.exit(main(sys.argv[2:]))
"""


def _wait_for(condition, process: subprocess.Popen, log: Path) -> None:
    """Polls until `condition()` holds; fails if the process ends first or after RAY_SECONDS (a hang)."""
    import time

    deadline = time.monotonic() + RAY_SECONDS
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before its worker held: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not hold its second call within {RAY_SECONDS} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_ray_worker_ends_the_run_with_a_sentence_keeping_what_finished_and_the_rerun_computes_the_rest(
    tmp_path,
):
    from core.batch import read_manifest

    data = _labelled_folder(tmp_path / "set", count=3)  # 3 dogs and the broken file: two calls of two images
    out, hold, log = tmp_path / "out", tmp_path / "held.json", tmp_path / "stderr.txt"
    explain = ["--model", "demo-resnet", "--method", "gradcam", "--data", str(data)]
    arguments = ["batch", *explain, "--out", str(out), "--engine", "ray"]
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", HELD_RUN, str(hold), *arguments], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)  # fmt: skip
        try:
            _wait_for(lambda: hold.is_file() and any((out / "parts").glob("part-*.parquet")), process, log)
            held = json.loads(hold.read_text())
            os.kill(held["pid"], signal.SIGKILL)  # the worker process, in the middle of its second call
            process.wait(timeout=RAY_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run did not end within {RAY_SECONDS} s of its worker's death")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    said = log.read_text()
    assert process.returncode == 1, said[-3000:]
    assert said.strip().splitlines()[-1] == (
        "interrupted: a Ray worker process died before finishing its images (killed, out of memory, or its node was "
        f"lost); the rows that finished are in {out / 'explanations.parquet'}; run the same command again to compute "
        "the rest."
    )
    assert "Traceback" not in said

    everything = {str(path.absolute()) for path in (data.parent / "pictures").iterdir()}
    partial = pd.read_parquet(out / "explanations.parquet")
    assert set(partial["image"]) == everything - set(held["images"]) and len(partial) == 2
    # Either call may have finished first: the one with the file that is not an image has its row marked so.
    assert all((row.status == "error") == row.image.endswith("broken.png") for row in partial.itertuples())
    finished = partial[partial["status"] == "ok"]
    assert len(finished) >= 1
    assert all((out / row.map).is_file() and (out / row.overlay).is_file() for row in finished.itertuples())
    manifest = read_manifest(out)
    assert manifest["interrupted"] is True and manifest["counts"]["computed_now"] == 2

    again = _run_with_time_limit([sys.executable, "-m", "core", *arguments], RAY_SECONDS)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    # Only rows that finished well count as done: a row marked as an error is tried again, with the held ones.
    assert (summary["rows_already_done"], summary["rows_computed"], summary["interrupted"]) == (
        len(finished),
        4 - len(finished),
        False,
    )
    assert [run["interrupted"] for run in read_manifest(out)["runs"]] == [True, False]

    clean = tmp_path / "clean"
    assert _batch(*explain, "--out", str(clean)) == 0  # the same images explained in one go, here
    same = ["image", "sha256", "model_stamp", "method", "params", "target", "map", "overlay", "status", "error"]
    _assert_same_results(clean, out, same)


# --- the Batch results page (AppTest) ----------------------------------------------------------------------------


def _batch_page():
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("views/batch.py").run()
    assert not app.exception, app.exception
    return app


def test_the_batch_page_shows_a_folders_rows_summary_and_the_chosen_rows_pictures(local_run):
    _, out = local_run
    app = _batch_page()
    app.text_input(key="batch_folder").input(str(out)).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert "Rows · 24 of 24" in [h.value for h in app.subheader]
    summary, rows = (frame.value for frame in app.dataframe)
    assert summary[["model", "method", "images", "failed"]].values.tolist() == [
        [model, method, 6, 1] for model in sorted(MODELS) for method in ("gradcam", "saliency")
    ]
    assert len(rows) == 24
    app.multiselect(key="batch_methods").set_value(["gradcam"]).run()
    app.multiselect(key="batch_status").set_value(["ok"]).run()
    assert "Rows · 10 of 24" in [h.value for h in app.subheader]
    shown = app.dataframe[1].value
    assert set(shown["method"]) == {"gradcam"} and set(shown["status"]) == {"ok"}
    app.session_state["batch_table"] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    assert not app.exception, app.exception
    first = shown.iloc[0]
    assert f"**{first['name']}** · {first['model']} · gradcam · " in app.markdown[-1].value
    captions = [image.caption for element in app.main.get("image") for image in element.proto.imgs]
    assert captions == [
        f"{first['predicted_label']} ({first['probability']:.1%}) with its box",
        "The raw map on its own colour scale, at the model's input size",
    ]
    assert not app.warning


def test_the_batch_page_opens_a_zipped_folder_and_refuses_a_zip_that_leaves_its_folder(local_run, tmp_path):
    import io
    import zipfile

    _, out = local_run
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for path in out.rglob("*"):
            if path.is_file():
                archive.write(path, f"results/{path.relative_to(out)}")
    app = _batch_page()
    app.segmented_control(key="batch_source").set_value("zip").run()
    app.file_uploader(key="batch_zip").set_value(("results.zip", data.getvalue(), "application/zip")).run()
    assert not app.exception, app.exception
    assert "Rows · 24 of 24" in [h.value for h in app.subheader]
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("../outside.parquet", b"x")
    app.file_uploader(key="batch_zip").set_value(("bad.zip", bad.getvalue(), "application/zip")).run()
    assert [e.value for e in app.error] == [
        "The zip has a file that would land outside its folder (../outside.parquet); it was not opened."
    ]


def _rows_heading(app) -> str:
    return next(h.value for h in app.subheader if h.value.startswith("Rows · "))


def test_the_batch_page_shows_the_error_sentence_of_a_chosen_error_row(local_run):
    _, out = local_run
    app = _batch_page()
    app.text_input(key="batch_folder").input(str(out)).run()
    app.multiselect(key="batch_status").set_value(["error"]).run()
    assert not app.exception, app.exception
    assert _rows_heading(app) == "Rows · 4 of 24"
    shown = app.dataframe[1].value
    assert set(shown["status"]) == {"error"} and set(shown["name"]) == {"pictures/broken.png"}
    assert not app.error  # nothing chosen yet
    app.session_state["batch_table"] = {"selection": {"rows": [2], "columns": []}}
    app.run()
    assert not app.exception, app.exception
    chosen = shown.iloc[2]
    assert f"**pictures/broken.png** · {chosen['model']} · {chosen['method']} · " in app.markdown[-1].value
    assert [e.value for e in app.error] == [
        "broken.png is not an image this app can open; upload a PNG, JPEG, GIF, BMP, TIFF or WebP file."
    ]
    assert not app.main.get("image")  # an error row has no pictures


def test_a_metric_range_on_the_batch_page_narrows_the_rows(local_run, tmp_path):
    import shutil

    _, source = local_run
    out = tmp_path / "results"
    shutil.copytree(source, out)
    rows = pd.read_parquet(out / "explanations.parquet")
    good = rows["status"] == "ok"
    # The 20 ok rows score 0, 0.05, …, 0.95 and the 4 error rows nothing: a range from 0.5 keeps 10 rows.
    rows["metric_deletion_auc"] = np.nan
    rows.loc[good, "metric_deletion_auc"] = np.arange(good.sum()) / 20
    rows["metric_deletion_auc_random"] = rows["metric_deletion_auc"] + 0.1  # a reference: read beside, not filtered
    rows["metric_part_head"] = rows["metric_deletion_auc"] / 2  # a part's share: filtered under "Part shares"
    rows.to_parquet(out / "explanations.parquet", index=False)
    app = _batch_page()
    app.text_input(key="batch_folder").input(str(out)).run()
    assert not app.exception, app.exception
    assert {s.key for s in app.slider} == {"batch_range_probability", "batch_range_metric_deletion_auc",
                                          "batch_range_metric_part_head"}  # fmt: skip
    assert [s.label for s in app.expander[0].slider] == ["head"]
    slider = app.slider(key="batch_range_metric_deletion_auc")
    assert slider.label == "deletion auc" and tuple(slider.value) == (0.0, 0.95)
    assert _rows_heading(app) == "Rows · 24 of 24"
    slider.set_value((0.5, 0.95)).run()
    assert not app.exception, app.exception
    assert _rows_heading(app) == "Rows · 10 of 24"
    shown = app.dataframe[1].value
    assert len(shown) == 10 and shown["metric_deletion_auc"].min() == 0.5 and set(shown["status"]) == {"ok"}
    summary = app.dataframe[0].value
    assert summary["images"].sum() == 10 and summary["mean deletion_auc"].min() >= 0.5
    app.slider(key="batch_range_metric_deletion_auc").set_value((0.0, 0.95)).run()  # the whole span again
    assert _rows_heading(app) == "Rows · 24 of 24" and len(app.dataframe[1].value) == 24  # error rows included


def test_metrics_from_the_real_trust_package_are_each_maps_deletion_and_insertion_beside_its_references(
    tmp_path, bundled_models
):
    from core.trust.faithfulness import faithfulness_report

    data = _labelled_folder(tmp_path / "set", count=1)
    code = _batch("--model", "demo-efficientnet", "--method", "gradcam", "--data", str(data),
                  "--out", str(tmp_path / "o"), "--metrics")  # fmt: skip
    assert code == 0
    rows = pd.read_parquet(tmp_path / "o" / "explanations.parquet")
    good = rows[rows["status"] == "ok"]
    assert len(good) >= 1
    row = good.iloc[0]
    model = bundled_models["demo-efficientnet"]
    image = np.asarray(Image.open(row["image"]).convert("RGB"))
    pixels = model.spec.resize([image])[0]
    raw = np.load(tmp_path / "o" / row["map"]).astype(np.float32)
    report = faithfulness_report(model, pixels, int(row["target"]), raw)
    # The stored map is float16, so the order of nearly equal pixels may differ a little from the run's own map.
    assert row["metric_deletion_auc"] == pytest.approx(report.map.deletion_auc, abs=0.02)
    assert row["metric_insertion_auc"] == pytest.approx(report.map.insertion_auc, abs=0.02)
    assert row["metric_deletion_auc_random"] == pytest.approx(report.references["random"].deletion_auc, abs=0.02)
    assert row["metric_insertion_auc_centre"] == pytest.approx(report.references["centre"].insertion_auc, abs=0.02)
