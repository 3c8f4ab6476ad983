"""What a registry entry says about its method: every parameter (default, type, allowed values, help), its
family, whether its map is signed and needs gradients, and its cost in forward passes. The pages, the
command line and the cost estimate are derived from these descriptions; see docs/methods.md."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from core.errors import MethodError

# One forward and one backward pass cost about three forward passes. Measured on the bundled models
# (benchmarks/speed.py): 2.0–3.4 for gradients down to the pixels; Grad-CAM, whose backward pass stops at
# the last convolutional layer, 1.1–1.5, so its estimate is on the safe side. See docs/methods.md, "Cost".
FORWARD_PASSES_PER_GRADIENT_PASS = 3

# Accepted by every method besides its own parameters: how many images go through the model at once.
# It changes memory use, not the maps, so it is not a described parameter and not part of a cache key.
BATCH_SIZE = "batch_size"


class Family(StrEnum):
    """How a method reads the model: gradients at the input, a convolutional layer's activations and
    gradients, or only outputs on perturbed copies of the image."""

    GRADIENT = "gradient"
    CLASS_ACTIVATION = "class-activation"
    PERTURBATION = "perturbation"


def _as_float(value: int | float) -> float:
    """The value as a float; an int too large for one is infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


@dataclass(frozen=True)
class Parameter:
    """One option of a method: its default, type (int, float, str or bool), allowed values (`choices`, or
    `minimum`/`maximum` for numbers) and one line of help; `unset` says what None means where None is allowed."""

    name: str
    default: int | float | str | bool | None
    type: type
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    unset: str = ""  # e.g. "the model's default" for Grad-CAM's layer; empty where None is not allowed

    @property
    def label(self) -> str:
        """The parameter's name for people: 'num_samples' -> 'Num samples'."""
        return self.name.replace("_", " ").capitalize()

    @property
    def allowed(self) -> str:
        """The values allowed, in words: 'a whole number of at least 1', 'one of quickshift or slic'."""
        if self.choices:
            *others, last = self.choices
            allowed = f"one of {', '.join(others)} or {last}" if others else f"'{last}'"
        else:
            allowed = _TYPE_WORDS[self.type]
            if self.minimum is not None and self.maximum is not None:
                allowed += f" from {self.minimum} to {self.maximum}"
            elif self.minimum is not None:
                allowed += f" of at least {self.minimum}"
            elif self.maximum is not None:
                allowed += f" of at most {self.maximum}"
        return allowed + (f", or none for {self.unset}" if self.unset else "")

    def check(self, value: object, method: str) -> int | float | str | bool | None:
        """The value as this parameter's type (an int where a float is expected becomes a float), or
        MethodError with one sentence when its type, choice or range is wrong."""
        if value is None and self.unset:
            return None
        if self.type is bool and isinstance(value, bool | np.bool_):
            return bool(value)
        if self.type is int and isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            value = int(value)
        elif self.type is float and isinstance(value, int | float | np.integer | np.floating):
            if isinstance(value, bool | np.bool_) or not math.isfinite(_as_float(value)):
                raise self._error(value, method)
            value = float(value)
        elif not (self.type is str and isinstance(value, str)):
            raise self._error(value, method)
        if self.choices and value not in self.choices:
            raise self._error(value, method)
        too_small = self.minimum is not None and value < self.minimum
        too_large = self.maximum is not None and value > self.maximum
        if too_small or too_large:
            raise MethodError(f"The {self.name} of {method} must be {self.allowed}, not {value}.")
        return value

    def parse(self, text: str, method: str) -> int | float | str | bool | None:
        """A value typed on the command line (`--param name=text`), converted to this parameter's type and checked."""
        text = text.strip()
        if self.unset and text.lower() in ("", "none"):
            return None
        value: object = text
        if self.type is bool:
            value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
                text.lower(), text
            )
        elif self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                pass
        return self.check(value, method)

    def describe(self) -> dict:
        """This parameter as JSON: name, default, type, then choices or minimum and maximum (numbers), and help."""
        description: dict = {"name": self.name, "default": self.default, "type": self.type.__name__}
        if self.choices:
            description["choices"] = list(self.choices)
        elif self.type in (int, float):
            description["minimum"], description["maximum"] = self.minimum, self.maximum
        description["help"] = self.help
        return description

    def _error(self, value: object, method: str) -> MethodError:
        shown = f"'{value}'" if isinstance(value, str) else repr(value)
        return MethodError(f"The {self.name} of {method} must be {self.allowed}, not {shown}.")


@dataclass(frozen=True)
class Method:
    """One explanation method, described completely: what it is, its parameters and what it costs. The
    function is pure: `function(model, pixels, targets, **params) -> maps` (see core.explain)."""

    name: str
    title: str
    function: Callable[..., np.ndarray]
    family: Family
    signed: bool  # True when the map has evidence for (+) and against (−) the class
    caption: str  # how to read the map, in plain words
    parameters: tuple[Parameter, ...] = ()
    # How many times the model runs per image for these parameters: a forward pass each for a perturbation
    # method, a forward and a backward pass each for the others. `passes` turns this into the cost.
    evaluations: Callable[[dict], int] = lambda params: 1
    shap: bool = False  # one of SHAP's estimators (Lundberg & Lee 2017), shown beside LIME
    # Optional checks of a result, e.g. Integrated Gradients' completeness: (model, pixels, targets, maps,
    # params) -> one dict of numbers per image.
    diagnostics: Callable[..., list[dict]] | None = None
    colourmap: str | None = None  # the method's own colour map, where it has one (default: core.render's)
    colours: str = ""  # how to read the colours, in plain words (default: from `signed`)
    # The overlay's opacity is the chosen opacity × strength ** overlay_exponent (core.render.overlay): above 1
    # fades weak evidence, for maps that are faintly non-zero everywhere; below 1 keeps weaker evidence visible.
    overlay_exponent: float = 1.0
    # What to try when the map is zero everywhere, ending the sentence `blank_sentence` writes.
    when_blank: str = "try another method on the same image"

    @property
    def needs_gradients(self) -> bool:
        """Gradient and class activation methods differentiate the model; perturbation methods only run it."""
        return self.family is not Family.PERTURBATION

    @property
    def defaults(self) -> dict:
        """Every parameter at its default value, in the order the parameters are described."""
        return {parameter.name: parameter.default for parameter in self.parameters}

    def passes(self, params: dict) -> int:
        """The cost per image of these parameters in forward-pass equivalents: each model evaluation is one
        forward pass, or FORWARD_PASSES_PER_GRADIENT_PASS for a method that needs gradients."""
        return self.evaluations(params) * (FORWARD_PASSES_PER_GRADIENT_PASS if self.needs_gradients else 1)

    def parameter(self, name: str) -> Parameter:
        """The parameter of that name (`batch_size` included), or MethodError naming the ones there are."""
        for parameter in (*self.parameters, _BATCH_SIZE):
            if parameter.name == name:
                return parameter
        known = ", ".join(self.defaults) or "none"
        raise MethodError(f"{self.name} has no parameter '{name}' (its parameters: {known}).")

    def params(self, overrides: dict | None = None) -> dict:
        """The defaults updated with `overrides`, each checked (type, choice, range) and converted to its
        parameter's type; MethodError with one sentence for the first that is wrong."""
        params = self.defaults
        for name, value in (overrides or {}).items():
            params[name] = self.parameter(name).check(value, self.name)
        return params

    def parse(self, texts: dict[str, str]) -> dict:
        """`params` of values typed as text (the command line's --param KEY=VALUE), each converted to its
        parameter's type first."""
        return self.params({name: self.parameter(name).parse(text, self.name) for name, text in texts.items()})

    @property
    def legend(self) -> str:
        if self.colours:
            return self.colours
        if self.signed:
            return "red: evidence for the class; blue: evidence against it; clear: no effect."
        return "the brighter the colour, the stronger the influence on the class score; clear: none."

    def blank_sentence(self, target_label: str) -> str:
        """One sentence for a map that is zero everywhere, saying so and what to try."""
        return (
            f"Nothing to show: {self.title} finds no evidence {'for or against' if self.signed else 'for'} "
            f"“{target_label}” in this image (its map is zero everywhere); {self.when_blank}."
        )

    def describe(self) -> dict:
        """This method as JSON: name, title, family, signed, needs_gradients, parameters, passes_at_defaults."""
        return {
            "name": self.name,
            "title": self.title,
            "family": str(self.family),
            "signed": self.signed,
            "needs_gradients": self.needs_gradients,
            "parameters": [parameter.describe() for parameter in self.parameters],
            "passes_at_defaults": self.passes(self.defaults),
        }


_BATCH_SIZE = Parameter(BATCH_SIZE, 32, int, "Images per model call: memory, not results.", minimum=1)
