"""How much memory a model needs, read from the file before anything runs on it, and the budget it must fit.

`estimate` adds up what one image costs: the output of every layer (Keras) or operation (SavedModel,
TFLite) for a batch of one, counted as if all were kept at once; a gradient keeps them and adds one of
the same size for each; the weights count once. A model whose one image does not fit the budget is
refused; the others get the largest batch that fits (`batch_limit`), so a big model runs one image at
a time and a small one at its usual batch. `guard` turns an out-of-memory error that still happens while
a model runs into one sentence for that request.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from core.errors import ModelError, UserError

# Memory one model may use for one pass, in MB; MODEL_MEMORY_BUDGET_MB overrides it. 2 GB lets several
# sessions share a 24 GB machine and still runs the ImageNet ResNet50V2 and EfficientNetB1 six or more images
# per gradient pass.
DEFAULT_BUDGET_MB = 2048
BUDGET_VARIABLE = "MODEL_MEMORY_BUDGET_MB"


class OutOfMemoryError(UserError):
    """A request needed more memory than the machine could give; the server and other requests go on."""


def budget_bytes() -> int:
    value = os.environ.get(BUDGET_VARIABLE, "")
    try:
        return int(float(value) * 2**20) if value.strip() else DEFAULT_BUDGET_MB * 2**20
    except ValueError:
        return DEFAULT_BUDGET_MB * 2**20


def amount(size: float) -> str:
    """Bytes in words: '1.2 GB', '340 MB', '12 kB'."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{int(size)} bytes"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs: its weights once, and per image in a batch: `forward` for a prediction (every
    layer's output), `backward` for a gradient (those outputs kept, and a gradient of each)."""

    weights: int
    forward: int
    differentiable: bool = True

    @property
    def backward(self) -> int:
        return 2 * self.forward

    @property
    def largest(self) -> int:
        """Bytes of the most demanding single-image pass this model can be asked for."""
        return self.weights + (self.backward if self.differentiable else self.forward)

    def batch_limit(self, gradients: bool = False, budget: int | None = None) -> int:
        """The most images per pass that fit the budget (at least 1: a model where one does not fit is refused)."""
        budget = budget_bytes() if budget is None else budget
        per_image = self.backward if gradients else self.forward
        return max(1, (budget - self.weights) // max(1, per_image))

    def check(self, name: str, budget: int | None = None) -> None:
        """ModelError with the estimate and the budget when one image does not fit."""
        budget = budget_bytes() if budget is None else budget
        if self.largest > budget:
            work = "its layers' outputs and their gradients" if self.differentiable else "its layers' outputs"
            raise ModelError(
                f"{name} needs about {amount(self.largest)} of memory for one image ({amount(self.weights)} of "
                f"weights, the rest for {work}), more than this server's budget of {amount(budget)} per model; "
                f"whoever runs it can raise {BUDGET_VARIABLE} (in MB)."
            )


def _elements(shape) -> int:
    """Elements of one image's tensor: the batch and other unknown sizes count as 1."""
    return int(np.prod([1 if d is None or d < 0 else int(d) for d in tuple(shape)], dtype=np.int64))


def _itemsize(dtype) -> int:
    try:
        return np.dtype(str(getattr(dtype, "name", dtype)).replace("tf.", "")).itemsize
    except TypeError:
        return 4


def _keras_activations(model, nested: bool = False) -> int:
    """Bytes of every layer's outputs for one image (the input layer's included), nested models followed
    inside, where their input layer is the outer tensor again and is not counted twice."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.layers:
            total += _keras_activations(layer, nested=True)
            continue
        if nested and isinstance(layer, keras.layers.InputLayer):
            continue
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in node.output_tensors:
                total += _elements(tensor.shape) * _itemsize(tensor.dtype)
    return total


def _graph_activations(graph, seen: set[str]) -> int:
    """Bytes of every operation's outputs in a TensorFlow graph for one image, called functions followed once;
    constants and variable reads are weights, counted apart."""
    import tensorflow as tf

    total = 0
    for operation in graph.get_operations():
        if operation.type not in ("Const", "ReadVariableOp", "VarHandleOp", "Placeholder"):
            for output in operation.outputs:
                if output.dtype not in (tf.resource, tf.variant) and output.shape.rank is not None:
                    total += _elements(output.shape) * output.dtype.size
        if operation.type in ("StatefulPartitionedCall", "PartitionedCall"):
            name = operation.get_attr("f").name
            called = graph._get_function(name)  # no public way to reach a called function's graph
            if name not in seen and getattr(called, "graph", None) is not None:
                seen.add(name)
                total += _graph_activations(called.graph, seen)
    return total


# Bytes per element of TensorFlow Lite's tensor types (schema.fbs `TensorType`); others count as 4.
_TFLITE_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 16: 4}


def _tflite_activations(content: bytes) -> int:
    """Bytes of the tensors a TensorFlow Lite interpreter allocates for one image: those without data in the
    file (the weights are in its buffers)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    total = 0
    for index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(index)
        for number in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(number)
            if model.Buffers(tensor.Buffer()).DataLength() == 0:
                total += _elements(tensor.ShapeAsNumpy() if tensor.ShapeLength() else ()) * _TFLITE_ITEMSIZE.get(
                    tensor.Type(), 4
                )
    return total


def estimate(model) -> MemoryEstimate:
    """The memory estimate of an opened model (a Keras model, `SavedModelFunction` or `TFLiteFile`)."""
    from core import model_files

    if isinstance(model, model_files.TFLiteFile):
        return MemoryEstimate(len(model.content), _tflite_activations(model.content), differentiable=False)
    if isinstance(model, model_files.SavedModelFunction):
        weights = sum(int(np.prod(v.shape)) * v.dtype.size for v in getattr(model.module, "variables", []))
        return MemoryEstimate(weights, _graph_activations(model.function.graph, set()), differentiable=False)
    weights = sum(int(np.prod(w.shape)) * _itemsize(w.dtype) for w in model.weights)
    return MemoryEstimate(weights, _keras_activations(model))


@contextlib.contextmanager
def guard(what: str):
    """Turns running out of memory inside the block into an OutOfMemoryError saying what was being done."""
    import tensorflow as tf

    try:
        yield
    except (MemoryError, tf.errors.ResourceExhaustedError) as error:
        raise OutOfMemoryError(
            f"{what} ran out of memory; try fewer images or a smaller number of samples or steps "
            "(the server and other requests are unaffected)."
        ) from error
