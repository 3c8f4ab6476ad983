"""Class model visualisation: the image a model takes to be most like a class (Simonyan et al. 2014).

Gradient ascent on the class score before the final sigmoid/softmax, less penalties, from the mean training image
(a zero deviation from it). Two presets (docs/methods.md, "Class model"):
- `seed`: Simonyan et al.'s objective S_c(x) − λ‖x‖², x the deviation from the mean training image in pixels;
  Adam (learning rate 0.3, epsilon 1e-12), BatchNorm layers normalising with the image's own statistics; 3000 steps.
  With one image, that normalisation bounds the score it ascends (docs/methods.md, "Why seed gives no confident
  class model here"): on networks ending in BatchNorm, as the bundled ones do, its pictures stay short of 0.99.
- `seed-frozen`: the same, with BatchNorm as in inference, as the seed's own network ran it: its base was frozen,
  and Keras runs a frozen BatchNorm layer in inference whatever `training` says. Confident, but noise-like.
- `regularised`: a decorrelated Fourier parameterisation, random jitter, scale and rotation, total-variation and
  L2 penalties (Olah et al. 2017), BatchNorm as in inference.
The result is always scored by the unchanged model, as the image it is saved as (0..255 integers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from core.classify import probability_text
from core.errors import ModelError
from core.inside.ascent import AscentResult, AscentSettings, Progress, ascend
from core.scoring import LoadedModel

_SEED = AscentSettings(parameterisation="pixels", learning_rate=0.3, epsilon=1e-12, l2=1e-6, batch_norm_training=True)
PRESETS: dict[str, AscentSettings] = {
    "seed": _SEED,
    "seed-frozen": replace(_SEED, batch_norm_training=False),  # nothing else changed
    "regularised": AscentSettings(
        parameterisation="fourier",
        learning_rate=0.05,
        epsilon=1e-8,
        l2=0.01,
        total_variation=0.005,
        jitter=8,
        scale=0.1,
        rotation=10.0,
        initial_noise=0.01,
    ),
}
PRESET_STEPS = {"seed": 3000, "seed-frozen": 3000, "regularised": 512}  # full runs (the command line's defaults)
PAGE_STEPS = {"seed": 300, "seed-frozen": 300, "regularised": 200}  # the page's: a few seconds on two CPU cores


@dataclass(frozen=True)
class ClassModel:
    """A class model: the image (H, W, C) uint8 and how its own model, unchanged, scores it."""

    model: str
    target: str
    preset: str
    steps: int
    pixels: np.ndarray
    score: float  # the target's score before the final activation
    probability: float  # the target's probability
    seconds: float
    stopped: bool
    history: tuple[tuple[int, float], ...]  # (step, objective during the ascent)

    def as_json(self) -> dict:
        return {
            "model": self.model,
            "target": self.target,
            "preset": self.preset,
            "steps": self.steps,
            "score": round(self.score, 4),
            "probability": round(self.probability, 6),
            "seconds": round(self.seconds, 2),
        }


def preset_named(name: str) -> AscentSettings:
    if name not in PRESETS:
        *others, last = PRESETS
        raise ModelError(f"There is no class model preset '{name}'; choose {', '.join(others)} or {last}.")
    return PRESETS[name]


def target_index(model: LoadedModel, target: str | int) -> int:
    """The index of a class given by label (or index); ModelError naming the classes otherwise."""
    labels = list(model.spec.labels)
    if isinstance(target, int | np.integer) and 0 <= int(target) < len(labels):
        return int(target)
    if target in labels:
        return labels.index(target)
    shown = ", ".join(labels) if len(labels) <= 20 else f"{', '.join(labels[:10])} … ({len(labels)} in all)"
    raise ModelError(f"{model.name} has no class '{target}'; its classes: {shown}.")


def score_graph(model: LoadedModel, batch_norm_training: bool):
    """pixels -> (N, classes) scores as a graph function. With `batch_norm_training`, BatchNorm layers use the
    batch's own statistics and every other layer runs as in inference; the moving statistics are not updated."""
    if not batch_norm_training:
        return model.class_scores
    import keras

    def scores(pixels):
        with keras.StatelessScope():  # the moving-average updates go into the scope and are dropped
            raw = _replay(model.score_model, model.preprocess_graph(pixels))
        return model.raw_to_class_scores(raw, pixels)

    return scores


def _replay(keras_model, inputs):
    """Runs a functional model's graph with BatchNorm layers in training mode and every other layer in inference."""
    import keras
    from keras.src.models.functional import Functional

    def operation(op):
        if isinstance(op, keras.layers.BatchNormalization):
            return _batch_norm_training(op) if op.trainable else lambda *args, **kwargs: op(*args, **kwargs)
        inner = getattr(op, "_functional", None) if isinstance(op, keras.Sequential) else op
        if isinstance(inner, Functional):
            return lambda *args, **kwargs: _replay(inner, args[0])
        if isinstance(op, keras.Model):
            raise ModelError(f"{op.name} is a subclassed model inside the classifier; its layers cannot be replayed.")

        def call(*args, **kwargs):
            if "training" in getattr(op, "_call_context_args", {}):
                kwargs["training"] = False
            return op(*args, **kwargs)

        return call

    outputs = keras_model._run_through_graph(inputs, operation_fn=operation)
    return outputs[0] if isinstance(outputs, list | tuple) and len(outputs) == 1 else outputs


def _batch_norm_training(layer):
    """A BatchNormalization layer as Keras runs it with `training=True` (a frozen one runs as in inference, as in
    Keras), normalising by the batch's own mean and (biased) variance, without computing the moving-average updates
    it would then drop: one fused kernel, and its fused gradient, where the input is an image batch with the
    channels last, as in the bundled networks."""
    import tensorflow as tf

    def call(x, *args, **kwargs):
        rank = len(x.shape)
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        axis = axis % rank
        channels = x.shape[axis]
        gamma = tf.convert_to_tensor(layer.gamma.value) if layer.scale else tf.ones([channels], x.dtype)
        beta = tf.convert_to_tensor(layer.beta.value) if layer.center else tf.zeros([channels], x.dtype)
        if rank == 4 and axis == 3 and x.dtype == tf.float32 and layer.epsilon >= 1.001e-5:  # the fused kernel's floor
            return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=layer.epsilon, is_training=True)[0]
        mean, variance = tf.nn.moments(x, [i for i in range(rank) if i != axis], keepdims=True)
        shape = [channels if i == axis else 1 for i in range(rank)]
        return tf.nn.batch_normalization(
            x, mean, variance, tf.reshape(beta, shape), tf.reshape(gamma, shape), layer.epsilon
        )

    return call


def class_ascent(
    model: LoadedModel,
    index: int,
    steps: int,
    settings: AscentSettings,
    mean: np.ndarray,
    colour: np.ndarray,
    *,
    chunk: int = 10,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> AscentResult:
    """The ascent itself: one image maximising the score of class `index` less the penalties, unclipped."""
    graph = score_graph(model, settings.batch_norm_training)

    def objective(pixels, targets):
        import tensorflow as tf

        return tf.gather(graph(pixels), targets, axis=1, batch_dims=1)

    key = ("class", settings.batch_norm_training)
    return ascend(
        model, key, objective, [index], steps, settings, mean, colour, chunk=chunk, progress=progress, stop=stop
    )


def class_model(
    model: LoadedModel,
    target: str | int,
    preset: str = "regularised",
    steps: int | None = None,
    *,
    training_mean: np.ndarray | None = None,
    colour: np.ndarray | None = None,
    settings: AscentSettings | None = None,
    chunk: int = 10,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> ClassModel:
    """The class model of `target` (a label or index) under a preset (or explicit `settings`), scored at the end by
    the model as it is, on the saved 0..255 image. `training_mean` (H, W, C) and `colour` (C, C) default to the
    model's training statistics (`core.inside.statistics`)."""
    from core.inside.statistics import training_statistics

    model.require_gradients("The class model")
    index = target_index(model, target)
    settings = settings or preset_named(preset)
    steps = PRESET_STEPS.get(preset, 256) if steps is None else int(steps)
    if steps < 1:
        raise ModelError(f"The class model needs at least one step, not {steps}.")
    if training_mean is None or colour is None:
        statistics = training_statistics(model.spec)
        training_mean = statistics.mean if training_mean is None else training_mean
        colour = statistics.colour if colour is None else colour
    history: list[tuple[int, float]] = []

    def remember(state: Progress) -> None:
        history.append((state.step, float(state.objective[0])))
        if progress is not None:
            progress(state)

    result = class_ascent(
        model, index, steps, settings, training_mean, colour, chunk=chunk, progress=remember, stop=stop
    )
    pixels = np.clip(np.round(result.pixels[0]), 0, 255).astype(np.uint8)
    scores = model.scores(pixels[None].astype(np.float32))
    probabilities = model.probabilities(pixels[None].astype(np.float32))
    return ClassModel(
        model=model.name,
        target=model.spec.labels[index],
        preset=preset,
        steps=result.steps,
        pixels=pixels,
        score=float(scores[0, index]),
        probability=float(probabilities[0, index]),
        seconds=result.seconds,
        stopped=result.stopped,
        history=tuple(history),
    )


def reading(result: ClassModel, *, probability: bool = True) -> str:
    """One plain sentence on how to read a class model's probability by its own model; without the probability
    itself where the page shows it just above."""
    p, model, target = result.probability, result.model, result.target
    said = f" ({probability_text(p)})" if probability else ""
    if p >= 0.99:
        return f"{model} itself is sure this picture is “{target}”{said}: it shows what the model looks for."
    if p >= 0.5:
        return f"{model} leans to “{target}”{said} without being sure: more steps may sharpen the picture."
    why = {
        "seed": "with BatchNorm in training mode on one image the score it can raise is capped; seed-frozen lifts "
        "the cap.",
        "regularised": "no picture that survives small shifts, turns and zooms convinced it in "
        f"{result.steps} steps; what it calls “{target}” may hang on exact pixels, which the shifts blur "
        "(seed-frozen, without them, can draw it).",
    }.get(result.preset, "more steps may get there.")
    return f"{model} itself does not take this picture for “{target}”{said}: {why}"


def settings_in_words(preset: str) -> dict:
    """A preset's parameters as a plain dict (for the page and the JSON record)."""
    return asdict(preset_named(preset))
