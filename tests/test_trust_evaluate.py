"""`python -m core evaluate --method M --metrics`: whether each model's maps look at the right thing, over a set."""

import json

import pytest

from core.__main__ import main


@pytest.mark.slow
def test_evaluate_metrics_tell_the_honest_model_from_the_cheating_one_in_metrics_json_and_the_page(tmp_path):
    from core.evaluation import bundled_set
    from core.scoring import load_model
    from core.trust.summary import trust_over_set

    out = tmp_path / "out"
    arguments = ["evaluate", "--model", "demo-efficientnet", "--model", "demo-shortcut", "--method", "saliency"]
    assert main([*arguments, "--metrics", "--images", "4", "--out", str(out)]) == 0
    trust = json.loads((out / "metrics.json").read_text())["trust"]
    models = [load_model(name) for name in ("demo-efficientnet", "demo-shortcut")]
    assert trust == json.loads(json.dumps(trust_over_set(models, bundled_set(), "saliency", count=4)))
    honest, cheat = trust["models"]["demo-efficientnet"], trust["models"]["demo-shortcut"]
    assert trust["images"] == honest["images"] == honest["with_box"] == 4
    # On the bundled set (no logo) the honest model's maps beat chance; the cheating one's do not.
    assert honest["deletion_auc"] < honest["deletion_auc_random"] - 0.1
    assert honest["energy_in_box"] > honest["box_area"] + 0.1 and honest["share_on_dog"] > 2 * honest["dog_area"]
    assert cheat["deletion_auc"] > cheat["deletion_auc_random"] - 0.02
    page = (out / "evaluation.html").read_text()
    assert "Does it look at the right thing?" in page
    assert f"<b>{honest['energy_in_box']:.3f}</b> ({honest['box_area']:.3f})" in page


def test_evaluate_metrics_without_a_method_is_one_sentence(tmp_path, capsys):
    assert main(["evaluate", "--model", "demo-resnet", "--metrics", "--out", str(tmp_path)]) == 2
    assert "add --method, e.g. --method saliency" in capsys.readouterr().err
