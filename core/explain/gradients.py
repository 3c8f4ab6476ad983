"""Gradients of a class score, written once for every gradient method.

Scores are the values before the final sigmoid/softmax (docs/methods.md, "The score explained").
Pixels are model-sized 0..255 floats; the model's preprocessing runs inside the graph, so gradients
are per pixel. Each gradient step is compiled once per model (and layer) with a fixed input signature
and run in batches.
"""

from __future__ import annotations

import numpy as np

from core.errors import ModelError
from core.explain.registry import FORWARD_PASSES_PER_GRADIENT_PASS
from core.progress import passes_done
from core.scoring import LoadedModel


def _target_scores(class_scores, targets):
    import tensorflow as tf

    return tf.gather(class_scores, targets, axis=1, batch_dims=1)


def input_gradients(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """d score[target] / d pixels: gradients (N, H, W, C) float32 and the target scores (N,)."""
    model.require_gradients("Gradients of the class score")

    def build():
        import tensorflow as tf

        @tf.function(input_signature=[model.pixel_signature, tf.TensorSpec((None,), tf.int32)])
        def step(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = _target_scores(model.class_scores(x), t)
            return tape.gradient(scores, x), scores

        return step

    step = model.compiled("input_gradients", build)
    return _batched(step, pixels, targets, model.batch(batch_size, gradients=True))


def layer_gradients(
    model: LoadedModel, pixels: np.ndarray, targets: np.ndarray, layer: str, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations A (N, h, w, k) of `layer`, d score[target] / dA, and the target scores (N,).
    Works when the layer sits inside a nested base model (transfer learning)."""
    model.require_gradients("Layer gradients")

    def build():
        import tensorflow as tf

        forward = _layer_and_scores(model, layer)

        @tf.function(input_signature=[model.pixel_signature, tf.TensorSpec((None,), tf.int32)])
        def step(x, t):
            with tf.GradientTape() as tape:
                activations, class_scores = forward(x)
                scores = _target_scores(class_scores, t)
            return activations, tape.gradient(scores, activations), scores

        return step

    step = model.compiled(("layer_gradients", layer), build)
    return _batched(step, pixels, targets, model.batch(batch_size, gradients=True))


def _batched(step, pixels: np.ndarray, targets: np.ndarray, batch_size: int):
    targets = np.broadcast_to(np.asarray(targets, np.int32), (len(pixels),))
    outputs = []
    for i in range(0, len(pixels), batch_size):
        outputs.append(step(pixels[i : i + batch_size], targets[i : i + batch_size]))
        # Counted for whoever watches (a gradient pass costs several forward ones); where a stop was asked, stopped.
        passes_done(min(batch_size, len(pixels) - i) * FORWARD_PASSES_PER_GRADIENT_PASS)
    return tuple(np.concatenate([o[k].numpy() for o in outputs]).astype(np.float32) for k in range(len(outputs[0])))


def _layer_and_scores(model: LoadedModel, layer_name: str):
    """A function pixels -> (activations of the layer, class scores) from one forward pass."""
    import keras

    keras_model, score_tensor = model.model, model.score_model.outputs[0]
    preprocess = model.preprocess_graph
    if layer_name in {layer.name for layer in keras_model.layers}:
        node = _node_in(keras_model, keras_model.get_layer(layer_name))
        both = keras.Model(keras_model.inputs, [node.output_tensors[0], score_tensor])

        def forward(x):
            activations, raw = both(preprocess(x), training=False)
            return activations, model.raw_to_class_scores(raw, x)

        return forward
    base = next(
        (
            layer
            for layer in keras_model.layers
            if isinstance(layer, keras.Model) and layer_name in {inner.name for inner in layer.layers}
        ),
        None,
    )
    if base is None:
        raise ModelError(f"{model.name} has no layer called '{layer_name}' at the top level or one model deep.")
    # The inner layer's output is not connected to the outer inputs (keisen/tf-keras-vis#63), so run
    # the layers before the base, the base with the extra output, then replay the head on its output.
    node = _node_in(keras_model, base)
    before = keras.Model(keras_model.inputs, node.input_tensors)
    inner = keras.Model(base.inputs, [base.get_layer(layer_name).output, *base.outputs])
    after = keras.Model(node.output_tensors, score_tensor)

    def forward(x):
        activations, base_output = inner(before(preprocess(x), training=False), training=False)
        return activations, model.raw_to_class_scores(after(base_output, training=False), x)

    return forward


def _node_in(keras_model, layer):
    """The call of `layer` that belongs to `keras_model`'s graph (a shared layer has one node per call)."""
    import keras

    for node in reversed(layer._inbound_nodes):
        try:
            keras.Model(keras_model.inputs, node.output_tensors)
        except ValueError:
            continue
        return node
    raise ModelError(f"The layer '{layer.name}' is not connected to the inputs of {keras_model.name}.")


def default_layer(model: LoadedModel) -> str:
    """The spec's Grad-CAM layer, else the last layer (nested models searched) with a spatial 4-D output."""
    if model.spec.gradcam_layer:
        return model.spec.gradcam_layer
    import keras

    candidates = []
    for layer in model.model.layers:
        inner = layer.layers if isinstance(layer, keras.Model) else [layer]
        for sub in inner:
            shape = getattr(sub, "output", None) is not None and sub.output.shape
            if shape and len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
                candidates.append(sub.name)
    if not candidates:
        raise ModelError(
            f"{model.name} has no convolutional layer for Grad-CAM; use a gradient or perturbation method."
        )
    return candidates[-1]
