"""The layers the inside-the-model pages offer, nested base networks included, and their receptive fields.

A layer is offered when its output is a spatial map (N, h, w, k) with h, w > 1: convolutions, their
normalisations and activations, merges. Input and preprocessing layers are not; a nested base network is
offered through its own layers, by their names (as Grad-CAM's `layer` takes them).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from core.errors import ModelError
from core.scoring import LoadedModel

_SKIPPED = ("InputLayer", "Rescaling", "Normalization", "Resizing", "CenterCrop")
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # the Keras class, e.g. Conv2D
    output_shape: tuple[int, int, int]  # (h, w, channels)
    inside: str | None = None  # the nested base network it belongs to, if any

    def as_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "output_shape": list(self.output_shape)}

    @property
    def label(self) -> str:
        """How a picker shows it: name, kind and shape."""
        h, w, k = self.output_shape
        where = f", in {self.inside}" if self.inside else ""
        return f"{self.name} ({self.kind}, {h}×{w}×{k}{where})"


def spatial_layers(model: LoadedModel) -> list[LayerInfo]:
    """The layers with spatial outputs, in the order the model runs them, nested base networks' layers in place."""
    import keras

    model.require_gradients("Looking inside the model")
    found: dict[str, LayerInfo] = {}

    def visit(layers, inside):
        for layer in layers:
            if isinstance(layer, keras.Model):
                if inside is None:  # one model deep, as the gradient step reaches
                    visit(layer.layers, layer.name)
                continue
            kind = type(layer).__name__
            output = getattr(layer, "output", None)
            shape = getattr(output, "shape", None)
            if kind in _SKIPPED or shape is None or len(shape) != 4 or layer.name in found:
                continue
            if (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
                found[layer.name] = LayerInfo(layer.name, kind, (int(shape[1]), int(shape[2]), int(shape[3])), inside)

    visit(model.model.layers, None)
    return list(found.values())


def layer_named(model: LoadedModel, name: str) -> LayerInfo:
    """The offered layer called `name`; ModelError in one sentence naming the choices otherwise."""
    layers = spatial_layers(model)
    for layer in layers:
        if layer.name == name:
            return layer
    names = [layer.name for layer in layers]
    if not names:
        raise ModelError(f"{model.name} has no layer with a spatial output to look inside.")
    if len(names) <= 12:
        raise ModelError(f"{model.name} has no layer called '{name}'; its layers are: {', '.join(names)}.")
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f"the nearest are {', '.join(close)}" if close else f"the last is {names[-1]}"
    raise ModelError(
        f"{model.name} has no layer called '{name}'; {hint} (all {len(names)}: python -m core layers --model "
        f"{model.name})."
    )


def default_layer(model: LoadedModel) -> str:
    """The model's Grad-CAM layer (the output of its last convolutional stage) if it is offered, else the last
    convolutional layer, else the last offered layer."""
    layers = spatial_layers(model)
    if not layers:
        raise ModelError(f"{model.name} has no layer with a spatial output to look inside.")
    names = [layer.name for layer in layers]
    if model.spec.gradcam_layer in names:
        return model.spec.gradcam_layer
    convolutions = [layer.name for layer in layers if layer.kind in CONVOLUTIONS]
    return (convolutions or names)[-1]


@dataclass(frozen=True)
class ReceptiveField:
    """Where position (i, j) of a layer's output looks in the model-sized input: rows from start_y + i * jump_y,
    size_y of them (columns alike). Theoretical: the convolution path only, before clipping to the image."""

    start_y: float
    start_x: float
    jump_y: float
    jump_x: float
    size_y: float
    size_x: float

    def box(self, i: int, j: int, height: int, width: int) -> tuple[int, int, int, int]:
        """[x0, y0, x1, y1) of position (i, j), clipped to the image."""
        y0, x0 = self.start_y + i * self.jump_y, self.start_x + j * self.jump_x
        y1, x1 = y0 + self.size_y, x0 + self.size_x
        return (
            int(max(0, round(x0))),
            int(max(0, round(y0))),
            int(min(width, round(x1))),
            int(min(height, round(y1))),
        )


_IDENTITY = ReceptiveField(0.0, 0.0, 1.0, 1.0, 1.0, 1.0)


def receptive_fields(keras_model) -> dict[str, ReceptiveField]:
    """The receptive field of every layer with a spatial output, nested models' layers included, from the
    kernel sizes, strides, dilations and padding along the graph. Where branches meet (a residual sum), the
    field is the union of theirs; a branch squeezed to 1×1 (squeeze-and-excitation's gate) is left out, so a
    field is what the convolutions see, not the global context such a gate adds."""
    fields: dict[str, ReceptiveField] = {}
    _walk(keras_model, [_IDENTITY] * len(keras_model.inputs), fields)
    return fields


def _walk(keras_model, input_fields, fields) -> list:
    import keras

    known = {id(tensor): field for tensor, field in zip(keras_model.inputs, input_fields, strict=True)}
    for layer in keras_model.layers:
        for node in layer._inbound_nodes:
            inputs = list(node.input_tensors)
            if not inputs or not all(id(t) in known for t in inputs):
                continue
            if isinstance(layer, keras.Model):
                outputs = _walk(layer, [known[id(t)] for t in inputs], fields)
            else:
                field = _through(layer, inputs, [known[id(t)] for t in inputs], node.output_tensors[0])
                outputs = [field] * len(node.output_tensors)
                if field is not None and len(node.output_tensors[0].shape) == 4:
                    fields.setdefault(layer.name, field)
            for tensor, field in zip(node.output_tensors, outputs, strict=False):
                known[id(tensor)] = field
    return [known.get(id(t)) for t in keras_model.outputs]


def _through(layer, inputs, input_fields, output) -> ReceptiveField | None:
    """The field of a layer's output from its inputs' fields (None: not spatial any more)."""
    shape = output.shape
    if len(shape) != 4:
        return None
    spatial = [
        (tensor, field)
        for tensor, field in zip(inputs, input_fields, strict=True)
        if field is not None and len(tensor.shape) == 4 and tuple(tensor.shape[1:3]) == tuple(shape[1:3])
    ]
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is not None and len(inputs) == 1 and input_fields[0] is not None:
        return _convolved(layer, inputs[0].shape, input_fields[0], kernel)
    name = type(layer).__name__
    if name == "ZeroPadding2D" and input_fields[0] is not None:
        (top, _), (left, _) = layer.padding
        f = input_fields[0]
        return ReceptiveField(f.start_y - top * f.jump_y, f.start_x - left * f.jump_x, *_rest(f))
    if name == "Cropping2D" and input_fields[0] is not None:
        (top, _), (left, _) = layer.cropping
        f = input_fields[0]
        return ReceptiveField(f.start_y + top * f.jump_y, f.start_x + left * f.jump_x, *_rest(f))
    if not spatial:
        return None
    fields = [field for _, field in spatial]
    start_y, start_x = min(f.start_y for f in fields), min(f.start_x for f in fields)
    end_y = max(f.start_y + f.size_y for f in fields)
    end_x = max(f.start_x + f.size_x for f in fields)
    jump_y, jump_x = max(f.jump_y for f in fields), max(f.jump_x for f in fields)
    return ReceptiveField(start_y, start_x, jump_y, jump_x, end_y - start_y, end_x - start_x)


def _rest(field: ReceptiveField) -> tuple[float, float, float, float]:
    return field.jump_y, field.jump_x, field.size_y, field.size_x


def _convolved(layer, input_shape, field: ReceptiveField, kernel) -> ReceptiveField:
    strides = getattr(layer, "strides", None) or kernel
    dilation = getattr(layer, "dilation_rate", (1, 1)) or (1, 1)
    padding = getattr(layer, "padding", "valid")
    values = []
    for axis in (0, 1):
        size, k, s, d = int(input_shape[1 + axis]), int(kernel[axis]), int(strides[axis]), int(dilation[axis])
        span = (k - 1) * d + 1
        before = 0
        if padding == "same":  # TensorFlow pads the extra row or column at the end
            before = max((-(-size // s) - 1) * s + span - size, 0) // 2
        values.append((before, s, span))
    (before_y, s_y, span_y), (before_x, s_x, span_x) = values
    return ReceptiveField(
        field.start_y - before_y * field.jump_y,
        field.start_x - before_x * field.jump_x,
        field.jump_y * s_y,
        field.jump_x * s_x,
        field.size_y + (span_y - 1) * field.jump_y,
        field.size_x + (span_x - 1) * field.jump_x,
    )
