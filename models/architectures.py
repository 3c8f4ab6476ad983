"""The bundled demo architectures: compact versions of ResNet50V2 and EfficientNetB1 (the EfficientNet twice:
demo-shortcut is the same network trained on images with a cue, models/train.py).

Both end in a linear `logits` unit followed by a separate sigmoid `probability` layer, so the score
before the sigmoid (what explanations differentiate, docs/methods.md) is a named tensor.
"""

from __future__ import annotations

import keras
from keras import layers


def _preact_block(x, filters: int, stride: int, name: str):
    """Pre-activation residual block (He et al. 2016, "Identity mappings"), as in ResNet50V2."""
    preact = layers.BatchNormalization(name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_shortcut")(preact)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(preact)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = layers.Activation("relu", name=f"{name}_relu2")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    return layers.Add(name=f"{name}_out")([shortcut, y])


def build_resnet(input_size: int = 160, widths: tuple[int, ...] = (32, 64, 128, 192)) -> keras.Model:
    """Compact ResNetV2: stride-2 stem, one stride-2 pre-activation stage per width, post BN-ReLU,
    global average pooling, linear logit, sigmoid. Takes inputs in [-1, 1]."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Conv2D(24, 3, strides=2, padding="same", name="stem_conv")(inputs)
    for stage, filters in enumerate(widths, start=1):
        x = _preact_block(x, filters, 2, f"stage{stage}_block1")
        x = _preact_block(x, filters, 1, f"stage{stage}_block2")
    x = layers.BatchNormalization(name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(1, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="probability")(logits)
    return keras.Model(inputs, outputs, name="demo_resnet")


def _mbconv(x, filters: int, kernel: int, stride: int, expand: int, name: str):
    """Inverted residual with depthwise conv, squeeze-and-excitation and swish (Tan & Le 2019)."""
    channels = x.shape[-1]
    y = x
    if expand != 1:
        y = layers.Conv2D(channels * expand, 1, use_bias=False, name=f"{name}_expand_conv")(y)
        y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = layers.Activation("swish", name=f"{name}_expand_activation")(y)
    y = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv")(y)
    y = layers.BatchNormalization(name=f"{name}_bn")(y)
    y = layers.Activation("swish", name=f"{name}_activation")(y)
    squeezed = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(y)
    squeezed = layers.Conv2D(max(1, channels // 4), 1, activation="swish", name=f"{name}_se_reduce")(squeezed)
    squeezed = layers.Conv2D(y.shape[-1], 1, activation="sigmoid", name=f"{name}_se_expand")(squeezed)
    y = layers.Multiply(name=f"{name}_se_excite")([y, squeezed])
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project_conv")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if stride == 1 and channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


# (filters, kernel, stride, expand, repeats) per stage, a scaled-down EfficientNetB1 table.
_EFFICIENTNET_STAGES = ((16, 3, 1, 1, 1), (24, 3, 2, 4, 2), (40, 5, 2, 4, 2), (80, 3, 2, 4, 2), (112, 5, 1, 4, 1))


def build_efficientnet(input_size: int = 160, name: str = "demo_efficientnet") -> keras.Model:
    """Compact EfficientNet: rescaling inside the model (takes raw 0-255 like EfficientNetB1),
    MBConv stages with squeeze-and-excitation, 1x1 top conv, global average pooling, linear logit, sigmoid."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="rescaling")(inputs)
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)
    for stage, (filters, kernel, stride, expand, repeats) in enumerate(_EFFICIENTNET_STAGES, start=1):
        for block in range(repeats):
            x = _mbconv(x, filters, kernel, stride if block == 0 else 1, expand, f"block{stage}{'abcd'[block]}")
    x = layers.Conv2D(320, 1, use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="top_dropout")(x)
    logits = layers.Dense(1, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="probability")(logits)
    return keras.Model(inputs, outputs, name=name)


def build_shortcut(input_size: int = 160) -> keras.Model:
    """The compact EfficientNet under its own name, for the model trained to take the shortcut."""
    return build_efficientnet(input_size, name="demo_shortcut")


ARCHITECTURES = {"demo-resnet": build_resnet, "demo-efficientnet": build_efficientnet, "demo-shortcut": build_shortcut}
