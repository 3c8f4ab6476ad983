"""The method registry describes every method completely, and what is derived from it holds: the functions'
own defaults, checked parameters in one sentence, the cost in forward passes, the JSON of `methods`."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import MethodError, UserError
from core.explain import METHODS, Family, explain, method_named, method_params
from core.explain.registry import FORWARD_PASSES_PER_GRADIENT_PASS

ROOT = Path(__file__).resolve().parent.parent

# The defaults every front end had before the registry described them; changing one changes every cached map.
DEFAULTS = {
    "saliency": {},
    "smoothgrad": {"samples": 16, "noise": 0.15, "seed": 0},
    "integrated-gradients": {"steps": 32, "baseline": "black"},
    "gradcam": {"layer": None},
    "gradcam++": {"layer": None},
    "shap": {"max_evals": 300, "blur": 16},
    "shap-gradient": {"samples": 50, "background": 8, "seed": 0},
    "lime": {"num_samples": 300, "segmentation": "quickshift", "segments": 40, "seed": 0},
}


def test_defaults_are_the_ones_the_front_ends_always_used():
    assert {name: method.defaults for name, method in METHODS.items()} == DEFAULTS
    assert [list(method.defaults) for method in METHODS.values()] == [list(d) for d in DEFAULTS.values()]  # order


@pytest.mark.parametrize("name", list(METHODS))
def test_every_keyword_of_a_method_is_described_with_the_functions_own_default(name):
    method = METHODS[name]
    keywords = {
        key: value.default
        for key, value in inspect.signature(method.function).parameters.items()
        if value.kind is inspect.Parameter.KEYWORD_ONLY and key != "batch_size"
    }
    assert keywords == method.defaults
    for parameter in method.parameters:
        assert parameter.type in (int, float, str, bool) and parameter.help.endswith(".")
        assert parameter.default is None or isinstance(parameter.default, parameter.type)
        assert parameter.check(parameter.default, name) == parameter.default  # every default is allowed
        if parameter.type in (int, float):
            assert parameter.minimum is not None  # every number has a range, at least from below
        if parameter.choices:
            assert parameter.default in parameter.choices


def test_families_signs_and_gradients():
    families = {name: method.family for name, method in METHODS.items()}
    assert families == {
        "saliency": Family.GRADIENT,
        "smoothgrad": Family.GRADIENT,
        "integrated-gradients": Family.GRADIENT,
        "gradcam": Family.CLASS_ACTIVATION,
        "gradcam++": Family.CLASS_ACTIVATION,
        "shap": Family.PERTURBATION,
        "shap-gradient": Family.GRADIENT,
        "lime": Family.PERTURBATION,
    }
    assert [name for name, method in METHODS.items() if not method.needs_gradients] == ["shap", "lime"]
    assert [name for name, method in METHODS.items() if method.signed] == [
        "integrated-gradients",
        "shap",
        "shap-gradient",
        "lime",
    ]
    assert [name for name, method in METHODS.items() if method.shap] == ["shap", "shap-gradient"]


def test_a_blank_map_is_one_sentence_that_names_the_class_and_what_to_try():
    for name, method in METHODS.items():
        sentence = method.blank_sentence("cat")
        assert sentence.startswith(f"Nothing to show: {method.title} finds no evidence for") and "“cat”" in sentence
        assert "; try " in sentence and sentence.endswith(".") and sentence.count(". ") == 0, name
    assert "try Grad-CAM++" in METHODS["gradcam"].blank_sentence("cat")  # it lights up where Grad-CAM stays at zero


def test_overlay_conventions_one_colour_language_for_every_signed_method():
    # Red for and blue against on every signed map (LIME's green vanished on grass); the weak part of maps that are
    # non-zero nearly everywhere (gradients, class activations) fades.
    assert {method.legend for method in METHODS.values() if method.signed} == {
        "red: evidence for the class; blue: evidence against it; clear: no effect."
    }
    assert all(method.colourmap is None for method in METHODS.values())  # core.render's defaults
    dense = [name for name, method in METHODS.items() if method.overlay_exponent > 1]
    assert dense == [name for name, method in METHODS.items() if method.family is not Family.PERTURBATION]


def test_cost_counts_a_forward_and_backward_pass_as_three_forward_passes():
    assert FORWARD_PASSES_PER_GRADIENT_PASS == 3
    costs = {name: method.passes(method.defaults) for name, method in METHODS.items()}
    assert costs == {
        "saliency": 3,
        "smoothgrad": 48,
        "integrated-gradients": 96,
        "gradcam": 3,
        "gradcam++": 3,
        "shap": 300,
        "shap-gradient": 150,
        "lime": 300,
    }
    assert METHODS["integrated-gradients"].passes({"steps": 8, "baseline": "grey"}) == 24
    assert METHODS["lime"].passes({**DEFAULTS["lime"], "num_samples": 40}) == 40


@pytest.mark.parametrize(
    "method, overrides, message",
    [
        ("smoothgrad", {"samples": 0}, "The samples of smoothgrad must be a whole number of at least 1, not 0."),
        ("smoothgrad", {"samples": 2.5}, "The samples of smoothgrad must be a whole number of at least 1, not 2.5."),
        ("smoothgrad", {"noise": "loud"}, "The noise of smoothgrad must be a number of at least 0.0, not 'loud'."),
        ("smoothgrad", {"noise": float("nan")}, "The noise of smoothgrad must be a number of at least 0.0, not nan."),
        ("smoothgrad", {"samples": True}, "The samples of smoothgrad must be a whole number of at least 1, not True."),
        (
            "integrated-gradients",
            {"baseline": "pink"},
            "The baseline of integrated-gradients must be one of black, grey, white or blur, not 'pink'.",
        ),
        (
            "lime",
            {"seed": 2**31},
            "The seed of lime must be a whole number from 0 to 2147483647, not 2147483648.",
        ),
        ("gradcam", {"layer": 3}, "The layer of gradcam must be text, or none for the model's default, not 3."),
        (
            "lime",
            {"steps": 3},
            "lime has no parameter 'steps' (its parameters: num_samples, segmentation, segments, seed).",
        ),
        ("saliency", {"samples": 3}, "saliency has no parameter 'samples' (its parameters: none)."),
        ("shap", {"batch_size": 0}, "The batch_size of shap must be a whole number of at least 1, not 0."),
    ],
)
def test_a_wrong_parameter_is_one_sentence(method, overrides, message):
    with pytest.raises(MethodError) as raised:
        method_params(METHODS[method], overrides)
    assert str(raised.value) == message
    assert isinstance(raised.value, UserError) and isinstance(raised.value, ValueError)


def test_explain_checks_parameters_before_any_model_work():
    with pytest.raises(MethodError, match="^The steps of integrated-gradients must be"):
        explain(_NoModel(), np.zeros((1, 4, 4, 3), np.float32), [0], "integrated-gradients", {"steps": -1})
    with pytest.raises(MethodError, match="^There is no method called 'sailency'; choose one of saliency, "):
        method_named("sailency")


class _NoModel:
    """A model that fails if anything runs it: parameter checks come first."""

    def require_gradients(self, what: str) -> None:
        pass

    def __getattr__(self, name):
        raise AssertionError(f"the model was used ({name}) before the parameters were checked")


def test_values_become_the_parameters_type_and_the_rest_are_defaults():
    params = method_params(METHODS["smoothgrad"], {"noise": 1, "samples": np.int64(4)})
    assert params == {"samples": 4, "noise": 1.0, "seed": 0}
    assert type(params["noise"]) is float and type(params["samples"]) is int
    assert method_params(METHODS["gradcam"], {"layer": None, "batch_size": 8}) == {"layer": None, "batch_size": 8}


def test_command_line_text_is_read_as_each_parameters_type():
    assert METHODS["lime"].parse({"num_samples": "200", "segmentation": " slic "}) == {
        **DEFAULTS["lime"],
        "num_samples": 200,
        "segmentation": "slic",
    }
    assert METHODS["smoothgrad"].parse({"noise": "0.5", "seed": "7"}) == {"samples": 16, "noise": 0.5, "seed": 7}
    assert METHODS["gradcam"].parse({"layer": "none"}) == {"layer": None}
    assert METHODS["gradcam"].parse({"layer": "conv_3"}) == {"layer": "conv_3"}
    with pytest.raises(
        MethodError, match=r"^The samples of smoothgrad must be a whole number of at least 1, not '1\.5'\.$"
    ):
        METHODS["smoothgrad"].parse({"samples": "1.5"})


def _check_description(described: dict, method) -> None:
    assert list(described) == [
        "name",
        "title",
        "family",
        "signed",
        "needs_gradients",
        "parameters",
        "passes_at_defaults",
    ]
    assert described["name"] == method.name and described["title"] == method.title
    assert described["family"] in ("gradient", "class-activation", "perturbation")
    assert described["signed"] is method.signed and described["needs_gradients"] is method.needs_gradients
    assert described["passes_at_defaults"] == method.passes(method.defaults)
    assert [p["name"] for p in described["parameters"]] == list(method.defaults)
    for parameter in described["parameters"]:
        assert parameter["default"] == method.defaults[parameter["name"]]
        assert parameter["type"] in ("int", "float", "str", "bool") and parameter["help"]
        if "choices" in parameter:
            assert parameter["default"] in parameter["choices"] and "minimum" not in parameter
        elif parameter["type"] in ("int", "float"):
            assert {"minimum", "maximum"} <= set(parameter)


def test_methods_command_prints_the_registry_as_json():
    result = subprocess.run(
        [sys.executable, "-m", "core", "methods"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert [entry["name"] for entry in described] == list(METHODS)
    for entry in described:
        _check_description(entry, METHODS[entry["name"]])
    by_name = {entry["name"]: entry for entry in described}
    assert by_name["smoothgrad"]["parameters"][0] == {
        "name": "samples",
        "default": 16,
        "type": "int",
        "minimum": 1,
        "maximum": None,
        "help": "Noisy copies of the image whose saliency maps are averaged.",
    }
    assert by_name["integrated-gradients"]["parameters"][1]["choices"] == ["black", "grey", "white", "blur"]
    assert by_name["gradcam"]["family"] == "class-activation" and by_name["gradcam"]["passes_at_defaults"] == 3


def test_command_line_help_lists_every_method_and_parameter_from_the_registry(capsys):
    from core.__main__ import main

    for command in ("explain", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = capsys.readouterr().out
        for method in METHODS.values():
            assert f"  {method.name}: {method.title}; {method.family}; {method.passes(method.defaults)} " in help_text
            for parameter in method.parameters:
                assert f"{parameter.name}=" in help_text


def test_docs_describe_every_method_and_parameter():
    text = (ROOT / "docs" / "methods.md").read_text()
    for method in METHODS.values():
        assert f"(`{method.name}`)" in text, method.name
        for parameter in method.parameters:
            assert f"`{parameter.name}`" in text, (method.name, parameter.name)
    assert "seed 000" not in text and "§" not in text
