"""Shared fixtures: small Keras models with hand-set weights, and the bundled models loaded once."""

from __future__ import annotations

import numpy as np
import pytest

import core

core.quiet_tensorflow()  # before any test imports TensorFlow


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
