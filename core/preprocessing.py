"""Named input preprocessing: what turns resized 0-255 pixels into a model's input tensor.

A preprocessing is named by a preset (`raw`, `unit`, `symmetric`, `caffe`, `torch`), by the
keras.applications module whose `preprocess_input` it reproduces (`resnet_v2`, `efficientnet`,
`vgg16`, ...), or written as `scale=S,offset=O` for x * S + O. Every function works on NumPy arrays
and on TensorFlow tensors alike, so it runs inside compiled (differentiable) model functions.
"""

from __future__ import annotations

import re

import numpy as np

from core.errors import ModelError

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def _caffe(x: np.ndarray) -> np.ndarray:
    return x[..., ::-1] - _CAFFE_MEAN_BGR


# Each takes float32 pixels in 0..255, (..., H, W, C), and returns the model's input.
PRESETS = {
    "raw": lambda x: x,  # the model rescales inside (EfficientNet)
    "unit": lambda x: x / 255.0,
    "symmetric": lambda x: x / 127.5 - 1.0,  # [-1, 1], as resnet_v2.preprocess_input
    "caffe": _caffe,  # BGR, ImageNet mean subtracted (resnet50, vgg16)
    "torch": lambda x: (x / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD,
}
# Presets that need three colour channels (they reorder channels or use per-channel statistics).
RGB_ONLY = frozenset({"caffe", "torch"})

# keras.applications modules by name -> the preset their `preprocess_input` computes (checked
# against Keras 3.15 by tests/test_preprocessing.py): mode "tf" is symmetric, "caffe" is caffe,
# "torch" is torch, and the families that rescale inside the model take raw 0..255 pixels.
APPLICATIONS = {
    "convnext": "raw",
    "densenet": "torch",
    "efficientnet": "raw",
    "efficientnet_v2": "raw",
    "inception_resnet_v2": "symmetric",
    "inception_v3": "symmetric",
    "mobilenet": "symmetric",
    "mobilenet_v2": "symmetric",
    "mobilenet_v3": "raw",
    "nasnet": "symmetric",
    "resnet": "caffe",
    "resnet50": "caffe",
    "resnet_v2": "symmetric",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "xception": "symmetric",
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CUSTOM = re.compile(rf"^\s*scale\s*=\s*({_NUMBER})\s*(?:,\s*offset\s*=\s*({_NUMBER})\s*)?$")


def names() -> list[str]:
    """Every named preprocessing, for help texts and choices."""
    return [*PRESETS, *APPLICATIONS]


def canonical(name: str) -> str:
    """The name a spec stores: a preset or application name as given (lower case), or a custom
    `scale=S,offset=O` written in one form; raises ModelError naming the choices."""
    text = str(name).strip()
    if text.lower() in PRESETS or text.lower() in APPLICATIONS:
        return text.lower()
    match = _CUSTOM.match(text)
    if match:
        scale, offset = float(match.group(1)), float(match.group(2) or 0.0)
        return f"scale={scale!r},offset={offset!r}"
    raise ModelError(
        f"Unknown preprocessing '{name}'; choose one of {', '.join(names())}, or write scale=S,offset=O "
        "for x * S + O on 0-255 pixels."
    )


def function(name: str):
    """The callable for a preprocessing name (see `canonical`)."""
    name = canonical(name)
    if name in APPLICATIONS:
        return PRESETS[APPLICATIONS[name]]
    if name in PRESETS:
        return PRESETS[name]
    scale, offset = (float(part.split("=")[1]) for part in name.split(","))
    return lambda x: x * scale + offset


def needs_rgb(name: str) -> bool:
    name = canonical(name)
    return APPLICATIONS.get(name, name) in RGB_ONLY


def preprocess(pixels: np.ndarray, preset: str) -> np.ndarray:
    """float32 model input from uint8 or float pixels in 0..255, (N, H, W, C)."""
    return np.asarray(function(preset)(np.asarray(pixels, np.float32)), np.float32)
