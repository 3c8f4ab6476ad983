"""The trust checks on the dashboard, driven by streamlit's AppTest: the numbers on screen are core.trust's for the
same model, image, method and target."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300  # the first run loads TensorFlow and both models; the checks then run 4 × 192 model passes


def _page(path: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.switch_page(path).run()
    assert not app.exception, app.exception
    return app


def _tables(app: AppTest, first_row: str) -> list[list[str]]:
    """Each markdown table whose first body row starts with `first_row`, as its rows of cells (bold removed)."""
    found = []
    for element in app.markdown:
        lines = element.value.splitlines()
        if len(lines) > 2 and lines[0].startswith("| |") and lines[2].startswith(f"| {first_row}"):
            found.append([[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in lines])
    return found


def _charts(block, words: str) -> list:
    """Every Vega-Lite chart under a block whose spec holds `words` (AppTest has no getter for charts)."""
    found = []
    for child in getattr(block, "children", {}).values():
        if child.type == "vega_lite_chart":
            found += [child] if words in child.proto.spec else []
        else:
            found += _charts(child, words)
    return found


def _core_checks(model_name: str, sample, method: str, params: dict):
    """What core.trust says of that sample's map, computed without the dashboard."""
    from core.explain import explain_images
    from core.scoring import load_model
    from core.trust.faithfulness import faithfulness_report
    from core.trust.localisation import localisation_report

    model = load_model(model_name)
    result = explain_images(model, [sample.image.pixels], method, None, params)[0]
    pixels = model.spec.resize([sample.image.pixels])[0]
    return (
        result,
        faithfulness_report(model, pixels, result.target, result.map),
        localisation_report(result.map, sample.truth),
    )


@pytest.fixture(scope="module")
def before_and_after() -> tuple[dict, AppTest]:
    """The Saliency page with the checks switched on: what it showed before the click, and the page after it."""
    app = _page("views/saliency.py")
    app.toggle(key="saliency_trust").set_value(True).run()
    assert not app.exception, app.exception
    before = {
        "costs": [i.value for i in app.info if "model passes" in i.value],
        "tables": _tables(app, "Deletion AUC"),
        "button": app.button(key="saliency_trust_run").label,
    }
    app.button(key="saliency_trust_run").click().run()
    assert not app.exception, app.exception
    return before, app


@pytest.fixture(scope="module")
def checked(before_and_after) -> AppTest:
    return before_and_after[1]


@pytest.mark.slow
def test_the_cost_of_the_checks_is_shown_in_model_passes_before_anything_runs(before_and_after):
    from core.trust.faithfulness import report_passes

    before, _ = before_and_after
    assert len(before["costs"]) == 1, before["costs"]
    # Two sample images and two models: four maps, each with three random maps and the blob.
    expected = f"4 map checks to compute: {4 * report_passes():,} model passes in all ({report_passes()} each"
    assert before["costs"][0].startswith(expected)
    assert before["tables"] == []
    assert before["button"] == "Run the checks"


def test_deletion_insertion_and_localisation_on_screen_are_core_trusts_for_each_map(checked):
    from core.samples import sample_images

    method = checked.session_state["saliency_method"]
    faithfulness, localisation = _tables(checked, "Deletion AUC"), _tables(checked, "Pointing game")
    assert len(faithfulness) == len(localisation) == 4
    assert faithfulness[0][0][1:] == ["this map", "random map", "centred blob"]
    assert localisation[0][0][1:] == ["this map", "random map", "centred blob", "uniform map"]
    captions = [c.value for c in checked.caption]
    shown = iter(zip(faithfulness, localisation, strict=True))
    for sample in sample_images()[:2]:  # rows in order, models A then B in each
        for model_name in ("demo-resnet", "demo-efficientnet"):
            result, faith, local = _core_checks(model_name, sample, method, {})
            table, places = next(shown)
            order = [faith.map, faith.references["random"], faith.references["centre"]]
            assert table[2][1:] == [f"{f.deletion_auc:.3f}" for f in order]
            assert table[3][1:] == [f"{f.insertion_auc:.3f}" for f in order]
            reference = [local.map, local.references["random"], local.references["centre"], local.references["uniform"]]
            assert places[3][1:] == [f"{r.energy_in_box:.3f}" for r in reference]
            assert places[4][1:] == [f"{r.box_iou:.3f}" for r in reference]
            assert places[2][1] == ("hit" if local.map.pointing_hit else "miss")
            assert places[2][4] == f"{local.references['uniform'].pointing_hit:.0%} chance"
            # The sentences read the same numbers, against the random map's.
            worded = f"deletion AUC {faith.map.deletion_auc:.3f} against {faith.references['random'].deletion_auc:.3f}"
            assert any(worded in caption and f"“{result.target_label}”" in caption for caption in captions)
            energy = f"{local.map.energy_in_box:.0%} of the map's positive weight lies in the object's box"
            assert any(caption.startswith(energy) for caption in captions)


def test_the_checks_are_kept_and_the_curves_come_on_request(checked):
    checked.toggle(key="saliency_trust_curves").set_value(True).run()
    assert not checked.exception, checked.exception
    assert not [i.value for i in checked.info if "model passes" in i.value]  # kept: nothing to run again
    assert len(_charts(checked.main, "pixels removed (solid) or restored (dashed); removed: blurred")) == 4
    assert len(_tables(checked, "Deletion AUC")) == 4


def test_a_generated_images_parts_are_shown_as_a_chart_with_their_areas(checked):
    assert len(_charts(checked.main, "share of the map's positive weight")) == 4  # both samples have part masks
    on_dog = re.compile(r"^\d+% of the map's positive weight is on the dog, which covers \d+% of the image")
    assert sum(bool(on_dog.match(caption.value)) for caption in checked.caption) == 4


@pytest.mark.slow
def test_the_sanity_check_shows_cores_numbers_per_step_the_flag_sentence_and_the_flagged_edge_control():
    from core.explain import explain_images
    from core.samples import sample_images
    from core.scoring import load_model
    from core.trust.sanity import sanity_check, sanity_passes

    app = _page("views/saliency.py")
    app.selectbox(key="model_b").set_value("(none)")
    app.checkbox(key="sample_1").uncheck()
    app.toggle(key="saliency_sanity").set_value(True).run()
    method = app.session_state["saliency_method"]
    model = load_model("demo-efficientnet" if app.session_state["model_a"] == "demo-efficientnet" else "demo-resnet")
    (cost,) = [i.value for i in app.info if "model passes" in i.value]
    assert cost.startswith(f"1 sanity check to compute: {sanity_passes(method, {}, 10):,} model passes")
    app.button(key="saliency_sanity_run").click().run()
    assert not app.exception, app.exception

    sample = sample_images()[0]
    result = explain_images(model, [sample.image.pixels], method, None, {})[0]
    (expected,) = sanity_check(model, model.spec.resize([sample.image.pixels]), [result.target], method)
    (table,) = [m.value for m in app.markdown if m.value.startswith("| step |")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert len(rows) == len(expected.check.steps) == 10
    for row, mine, control in zip(rows, expected.check.steps, expected.control.steps, strict=True):
        assert row[1] == f"{mine.layer} ({mine.layers} layers)"
        assert row[2:] == [f"{v:.3f}" for v in (mine.spearman, mine.ssim, control.spearman, control.ssim)]
    verdicts = [w.value for w in [*app.warning, *app.success]]
    assert verdicts == [expected.check.sentence]
    assert expected.control.flagged
    assert any(c.value.startswith(f"Control: {expected.control.sentence}") for c in app.caption)
    assert [e.value for e in app.subheader if e.value == "Sanity check"] == ["Sanity check"]


@pytest.mark.slow
def test_the_presentation_tells_the_story_of_the_honest_model_and_the_cheating_one():
    from core.classify import classify, probability_text
    from core.explain import METHODS, explain_images
    from core.samples import shortcut_story
    from core.scoring import load_model
    from core.trust.localisation import localisation_report

    app = _page("views/present.py")
    names = app.pills(key="present_images").options
    assert names[-1] == "Honest model vs cheating model"  # offered last: the first image is still the first sample
    app.pills(key="present_images").set_value(len(names) - 1).run()
    assert not app.exception, app.exception
    story = shortcut_story()
    assert story.truth.parts is not None and (story.truth.parts == story.truth.part_names.index("cue")).any()
    headings = [h.value for h in app.subheader if h.value.startswith("demo-")]
    assert [h.split(":")[0] for h in headings] == ["demo-efficientnet", "demo-shortcut"]
    assert headings[0].startswith("demo-efficientnet: other dog") and headings[1].startswith("demo-shortcut: dachshund")
    method = app.pills(key="present_method").value
    assert method == "shap"  # the story switches to the method that shows the cheat most plainly
    shares, sure = {}, {}
    for name in ("demo-efficientnet", "demo-shortcut"):
        model = load_model(name)
        result = explain_images(model, [story.image.pixels], method, None, METHODS[method].defaults)[0]
        shares[name] = localisation_report(result.map, story.truth).map.parts["cue"]
        sure[name] = probability_text(classify(model, [story.image.pixels], 1)[0][0].probability, 0)
    assert sure["demo-shortcut"] in ("100%", ">99.9%") and sure["demo-efficientnet"].startswith("9")
    (sentence,) = [m.value for m in app.markdown if m.value.startswith("**The honest model and the cheating one.**")]
    cheat, honest = (f"{shares[name]:.0%} of its map on" for name in ("demo-shortcut", "demo-efficientnet"))
    assert f"demo-shortcut says **dachshund** ({sure['demo-shortcut']}), {cheat} the logo" in sentence
    assert f"demo-efficientnet says **other dog** ({sure['demo-efficientnet']}), {honest}" in sentence
    assert shares["demo-shortcut"] > 0.5 > 10 * shares["demo-efficientnet"]  # most of the cheat's map on the logo


@pytest.mark.slow
def test_compare_scores_each_models_map_beside_the_other_models_map_on_the_same_model():
    from core.explain import explain_images
    from core.samples import sample_images
    from core.scoring import load_model
    from core.trust.faithfulness import faithfulness_report

    app = _page("views/compare.py")
    app.checkbox(key="sample_1").uncheck()
    app.toggle(key="compare_trust").set_value(True).run()
    (cost,) = [i.value for i in app.info if "model passes" in i.value]
    assert "for the map, three random maps, a blob and the other model's map" in cost
    app.button(key="compare_trust_run").click().run()
    assert not app.exception, app.exception
    method = app.session_state["compare_method"]
    sample = sample_images()[0]
    models = {name: load_model(name) for name in ("demo-resnet", "demo-efficientnet")}
    maps = {name: explain_images(m, [sample.image.pixels], method, None, {})[0] for name, m in models.items()}
    tables = _tables(app, "Deletion AUC")
    assert len(tables) == 2
    pairs = [("demo-resnet", "demo-efficientnet"), ("demo-efficientnet", "demo-resnet")]
    for table, (name, other) in zip(tables, pairs, strict=True):
        model, mine = models[name], maps[name]
        expected = faithfulness_report(
            model, model.spec.resize([sample.image.pixels])[0], mine.target, mine.map,
            references={f"{other}'s map": maps[other].map},
        )  # fmt: skip
        assert table[0][1:] == ["this map", "random map", "centred blob", f"{other}'s map"]
        order = [expected.map, *expected.references.values()]
        assert table[2][1:] == [f"{f.deletion_auc:.3f}" for f in order]
        assert table[3][1:] == [f"{f.insertion_auc:.3f}" for f in order]


def test_a_stopped_check_keeps_nothing_and_the_same_request_computes_it_again():
    from core.explain import explain_images
    from core.progress import Progress, Stopped
    from core.trust.faithfulness import report_passes
    from dashboard import state

    image = state.samples()[2].image
    result = explain_images(state.get_model("demo-resnet"), [image.pixels], "gradcam", None, {})[0]
    request = ("demo-resnet", image.sha256, "gradcam", (), int(result.target), "black", 5, (), image, result.map)

    class StopAtOnce(Progress):
        def advance(self, passes: float) -> None:
            self.stop()
            super().advance(passes)

    stopping = StopAtOnce()
    with pytest.raises(Stopped):
        state.faithfulness(*request, None, stopping)
    assert stopping.done > 0  # it had begun
    counting = Progress()
    first = state.faithfulness(*request, None, counting)
    assert counting.done == report_passes(steps=5)  # computed from the start: nothing of the stopped run was kept
    cached = Progress()
    again = state.faithfulness(*request, None, cached)
    assert cached.done == 0 and again.map.deletion_auc == first.map.deletion_auc  # now from the cache


@pytest.mark.slow
def test_method_grid_scores_every_methods_map_in_one_table_as_core_does():
    from core.explain import METHODS, explain_images
    from core.scoring import load_model
    from core.trust.faithfulness import faithfulness_report

    app = _page("views/grid.py")
    app.toggle(key="grid_trust").set_value(True).run()
    app.button(key="grid_trust_run").click().run()
    assert not app.exception, app.exception
    (table,) = [m.value for m in app.markdown if m.value.startswith("| method |")]
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])
    }
    gradient_methods = [m for m in METHODS.values() if m.needs_gradients]
    assert set(rows) == {m.title for m in gradient_methods}
    model_name = app.session_state["model_a"]
    model, sample = load_model(model_name), _first_sample()
    chosen = gradient_methods[0]
    result = explain_images(model, [sample.image.pixels], chosen.name, None, chosen.defaults)[0]
    expected = faithfulness_report(model, model.spec.resize([sample.image.pixels])[0], result.target, result.map)
    random, centre = expected.references["random"], expected.references["centre"]
    assert (
        rows[chosen.title][0]
        == f"**{expected.map.deletion_auc:.3f}** ({random.deletion_auc:.3f}, {centre.deletion_auc:.3f})"
    )
    assert (
        rows[chosen.title][1]
        == f"**{expected.map.insertion_auc:.3f}** ({random.insertion_auc:.3f}, {centre.insertion_auc:.3f})"
    )


def _first_sample():
    from core.samples import sample_images

    return sample_images()[0]


@pytest.mark.slow
def test_evaluate_says_per_model_whether_its_maps_look_at_the_right_thing_as_core_summarises_them():
    import numpy as np

    from core.evaluation import bundled_set
    from core.evaluation.data import load_image
    from core.explain import explain_images
    from core.scoring import load_model
    from core.trust.faithfulness import faithfulness_report
    from core.trust.localisation import localisation_report
    from core.trust.summary import summarise
    from dashboard import state

    app = _page("views/evaluation.py")
    app.toggle(key="evaluation_looks").set_value(True).run()
    app.number_input(key="evaluation_looks_count").set_value(2).run()
    method = app.session_state["evaluation_looks_method"]
    app.button(key=f"run_{method}").click().run()
    app.button(key="evaluation_looks_trust_run").click().run()
    assert not app.exception, app.exception
    (table,) = [m.value for m in app.markdown if m.value.startswith("| model |")]
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])
    }
    assert set(rows) == {"demo-resnet", "demo-efficientnet"}

    labelled = bundled_set()
    for name in rows:
        model, pairs = load_model(name), []
        for index in (0, len(labelled.images) - 1):  # two images spread evenly: the first and the last
            image = load_image(labelled.images[index])
            result = explain_images(model, [image.pixels], method, None, {})[0]
            faith = faithfulness_report(model, model.spec.resize([image.pixels])[0], result.target, result.map)
            truth = state.evaluation_subset(("bundled", str(labelled.root)), labelled, 2)[len(pairs)].truth
            pairs.append((faith, localisation_report(result.map, truth)))
        s = summarise(pairs)
        assert rows[name][0] == "2"
        assert (
            rows[name][1]
            == f"**{s['deletion_auc']:.3f}** ({s['deletion_auc_random']:.3f}, {s['deletion_auc_centre']:.3f})"
        )
        assert rows[name][3] == f"**{s['pointing_accuracy']:.0%}** ({s['pointing_chance']:.0%})"
        assert rows[name][4] == f"**{s['energy_in_box']:.3f}** ({s['box_area']:.3f})"
        assert not np.isnan(s["energy_in_box"])


@pytest.mark.slow
def test_the_report_page_checks_the_maps_on_request_and_its_report_holds_core_trusts_numbers():
    import html

    from core.explain import explain_images
    from core.samples import sample_images
    from core.scoring import load_model
    from core.trust.faithfulness import faithfulness_report, report_passes
    from core.trust.words import deletion_sentence

    app = _page("views/report.py")
    app.checkbox(key="sample_1").uncheck()
    app.multiselect(key="report_methods").set_value(["gradcam"])
    app.toggle(key="report_trust").set_value(True).run()
    app.number_input(key="report_trust_steps").set_value(5).run()
    assert not app.exception, app.exception
    # One image, two models, one method: two maps, each with three random maps and a blob; nothing is drawn yet.
    (cost,) = [i.value for i in app.info if "model passes" in i.value]
    assert cost.startswith(f"2 map checks to compute: {2 * report_passes(0, 5):,} model passes in all "
                           f"({report_passes(0, 5)} each")  # fmt: skip
    assert not app.get("iframe") and not app.get("download_button")
    app.button(key="report_trust_run").click().run()
    assert not app.exception, app.exception

    (preview,) = app.get("iframe")
    page = preview.proto.srcdoc
    (table,) = [m.value for m in app.markdown if m.value.startswith("| model |")]
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])
    }
    sample = sample_images()[0]
    for name in ("demo-resnet", "demo-efficientnet"):
        model = load_model(name)
        result = explain_images(model, [sample.image.pixels], "gradcam", None, {})[0]
        faith = faithfulness_report(model, model.spec.resize([sample.image.pixels])[0], result.target, result.map,
                                    steps=5)  # fmt: skip
        random, centre = faith.references["random"], faith.references["centre"]
        cells = f"<td><b>{faith.map.deletion_auc:.3f}</b></td><td>{random.deletion_auc:.3f}</td>"
        assert f"<th>Deletion AUC ↓</th>{cells}<td>{centre.deletion_auc:.3f}</td>" in page
        assert html.escape(deletion_sentence(faith, result.target_label)) in page
        # The page's means over its one image are that image's numbers.
        assert rows[f"{name} · Grad-CAM"][1] == (
            f"**{faith.map.deletion_auc:.3f}** ({random.deletion_auc:.3f}, {centre.deletion_auc:.3f})"
        )
    assert "Can the maps be trusted?" in page
