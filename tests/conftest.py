"""Shared fixtures: small Keras models with hand-set weights, and the bundled models loaded once."""

from __future__ import annotations

import os

import numpy as np
import pytest

import core

core.quiet_tensorflow()  # before any test imports TensorFlow

# Small budgets for the methods with many model passes, shared by every test that checks shapes, invariances or
# agreement rather than converged estimates. TEST_BUDGET_CAP=N caps each further (e.g. on a slow machine).
_BUDGETS = {
    "smoothgrad": {"samples": 4},
    "integrated-gradients": {"steps": 8},
    "shap": {"max_evals": 64},
    "shap-gradient": {"samples": 8},
    "lime": {"num_samples": 48},
}
BUDGETED_METHODS = tuple(_BUDGETS)


def method_budget(method: str) -> dict:
    """The test budget of a method's sample or step count (empty for methods with one pass), capped by
    TEST_BUDGET_CAP when it is set."""
    cap = int(os.environ.get("TEST_BUDGET_CAP") or 0)
    return {key: min(value, cap) if cap else value for key, value in _BUDGETS.get(method, {}).items()}


@pytest.fixture(scope="session")
def keras():
    import keras

    return keras


def linear_model(keras, weights: np.ndarray, bias: float, head: str = "activation"):
    """8x8x3 input -> flatten -> one unit with the given weights; sigmoid as a separate layer or inside Dense."""
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    if head == "activation":
        dense = keras.layers.Dense(1, name="logit")
        outputs = keras.layers.Activation("sigmoid")(dense(flat))
    else:
        dense = keras.layers.Dense(1, activation="sigmoid", name="logit")
        outputs = dense(flat)
    model = keras.Model(inputs, outputs)
    dense.set_weights([weights.reshape(-1, 1).astype(np.float32), np.array([bias], np.float32)])
    return model


@pytest.fixture(scope="session")
def bundled_models():
    from core.catalog import BUNDLED
    from core.scoring import load_model

    return {name: load_model(name) for name in BUNDLED}


# Tests of more than about five seconds are marked slow, so `-m "not slow"` stays a quick loop. A test that takes
# more than twice that without the mark is named at the end of the run (never failed: these machines are noisy).
UNMARKED_SLOW_SECONDS = 10.0
_unmarked_slow: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if report.when != "teardown" and "slow" not in report.keywords:
        _unmarked_slow[report.nodeid] = _unmarked_slow.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    over = {node: seconds for node, seconds in _unmarked_slow.items() if seconds > UNMARKED_SLOW_SECONDS}
    if over:
        terminalreporter.write_sep("-", f"over {UNMARKED_SLOW_SECONDS:.0f} s without @pytest.mark.slow: mark them")
        for node, seconds in sorted(over.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{seconds:6.1f} s  {node}")
