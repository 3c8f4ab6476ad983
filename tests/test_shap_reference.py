"""Our expected gradients (`shap-gradient`) against shap's own GradientExplainer on the same model and references.

Ours runs on the model's compiled gradient step (shap's explainer retraces per call, reseeds numpy's global
generator and needs a functional model); both estimate the same expectation, so with many samples they agree.
"""

import warnings

import numpy as np

from core.explain.perturbation import grey_references, shap_gradient
from core.scoring import LoadedModel
from core.spec import ModelSpec


def test_expected_gradients_match_shaps_gradient_explainer_on_a_nonlinear_model(keras, tmp_path):
    import shap

    inputs = keras.Input((12, 12, 3))
    scaled = keras.layers.Rescaling(1 / 255.0)(inputs)
    hidden = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="tanh")(scaled))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    spec = ModelSpec("tanh-net", tmp_path / "x.keras", (12, 12), ("a", "b"), "raw", "rgb", "logits")
    loaded = LoadedModel(spec, model)
    pixels = rng.uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
    targets = np.array([0, 1])

    ours = shap_gradient(loaded, pixels, targets, samples=3000, background=8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap warns about Keras 3 on every call
        values = shap.GradientExplainer(model, grey_references((12, 12, 3), 8)).shap_values(
            pixels, nsamples=3000, rseed=1
        )
    theirs = np.stack([values[i, ..., t].sum(axis=-1) for i, t in enumerate(targets)])

    error = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
    assert error < 0.05, error
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99
    # Both satisfy completeness in expectation: the maps sum to f(x) − E[f(reference)].
    scores = model.predict(pixels, verbose=0)[np.arange(2), targets]
    baseline = model.predict(grey_references((12, 12, 3), 8), verbose=0)[:, targets].mean(axis=0)
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), scores - baseline, rtol=0.1, atol=0.05)
