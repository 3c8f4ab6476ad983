"""Named input preprocessing: what turns resized 0-255 RGB pixels into a model's input tensor."""

from __future__ import annotations

import numpy as np

from core.errors import ModelError

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def _caffe(x: np.ndarray) -> np.ndarray:
    return x[..., ::-1] - _CAFFE_MEAN_BGR


# Each takes float32 pixels in 0..255, (..., H, W, 3), and returns the model's input.
PRESETS = {
    "raw": lambda x: x,  # the model rescales inside (EfficientNet)
    "unit": lambda x: x / 255.0,
    "symmetric": lambda x: x / 127.5 - 1.0,  # [-1, 1], as resnet_v2.preprocess_input
    "caffe": _caffe,  # BGR, ImageNet mean subtracted (resnet50, vgg16)
    "torch": lambda x: (x / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD,
}


def preprocess(pixels: np.ndarray, preset: str) -> np.ndarray:
    """float32 model input from uint8 or float pixels in 0..255, (N, H, W, C)."""
    try:
        function = PRESETS[preset]
    except KeyError:
        raise ModelError(f"Unknown preprocessing '{preset}'; choose one of {', '.join(PRESETS)}.") from None
    return np.asarray(function(np.asarray(pixels, np.float32)), np.float32)
