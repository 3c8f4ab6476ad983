"""Gradient ascent on an input image, written once for the class model and the filter patterns.

An image is held in one of two parameterisations (docs/methods.md, "Inside the model"):
- `pixels`: the deviation from the mean training image, in pixels (0..255 units); the model sees mean + x.
- `fourier`: a spectrum per decorrelated colour channel, scaled by 1 / frequency, turned into pixels through the
  colour correlation of the training images and a sigmoid around the mean image (Olah et al. 2017).
Each step may show the model a randomly jittered, scaled and rotated copy, and subtracts L2 and total-variation
penalties. The optimiser is Adam, written out (Keras's update rule) so that a whole chunk of steps runs as one
compiled loop; a chunk function is compiled once per model, objective and parameterisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from core.scoring import LoadedModel

PARAMETERISATIONS = ("pixels", "fourier")
_EDGE = 0.02  # the mean image is kept this far from 0 and 255 before its logit is taken


@dataclass(frozen=True)
class AscentSettings:
    """Everything that shapes one ascent besides the objective; part of every cache key."""

    parameterisation: str = "pixels"
    learning_rate: float = 0.3
    epsilon: float = 1e-12
    beta_1: float = 0.9
    beta_2: float = 0.999
    l2: float = 0.0  # times the sum of squared deviations from the mean image: in pixels (pixels), in 0..1 (fourier)
    total_variation: float = 0.0  # times the sum of absolute differences of neighbouring pixels, in 0..1 units
    jitter: int = 0  # pixels of random shift, each way
    scale: float = 0.0  # random scale within 1 ± scale
    rotation: float = 0.0  # random rotation within ± degrees
    batch_norm_training: bool = False  # BatchNorm layers normalise with the image's own statistics
    initial_noise: float = 0.0  # standard deviation of the starting spectrum (fourier) or pixels (pixels)
    seed: int = 0


@dataclass(frozen=True)
class Progress:
    """Where an ascent stands after a chunk: steps done of the total, each image's objective and its pixels."""

    step: int
    steps: int
    objective: np.ndarray  # (N,) the objective of each image at the last step (before penalties)
    pixels: np.ndarray  # (N, H, W, C) uint8
    seconds: float


@dataclass(frozen=True)
class AscentResult:
    pixels: np.ndarray  # (N, H, W, C) float32 in 0..255
    objective: np.ndarray  # (N,) at the last step, before penalties
    steps: int  # steps done (fewer than asked when stopped)
    seconds: float
    stopped: bool


def frequency_scale(height: int, width: int) -> np.ndarray:
    """1 / frequency (cycles per pixel) of each rfft2 coefficient, the lowest frequency capped at 1 / max side;
    so that every frequency starts with about the same energy as in natural images."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    return (1.0 / np.maximum(frequency, 1.0 / max(height, width))).astype(np.float32)


def spectrum_shape(count: int, height: int, width: int, channels: int) -> tuple[int, ...]:
    """(N, C, H, W // 2 + 1, 2): real and imaginary parts of each channel's half spectrum."""
    return (count, channels, height, width // 2 + 1, 2)


def initial_parameters(settings: AscentSettings, count: int, height: int, width: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(settings.seed)
    if settings.parameterisation == "fourier":
        shape = spectrum_shape(count, height, width, channels)
    else:
        shape = (count, height, width, channels)
    if settings.initial_noise <= 0:
        return np.zeros(shape, np.float32)
    return rng.normal(0.0, settings.initial_noise, shape).astype(np.float32)


def _image_graph(tf, parameters, mean, colour, scale, parameterisation: str):
    """Pixels (N, H, W, C) in 0..255 from the parameters; differentiable."""
    if parameterisation == "pixels":
        return mean[None] + parameters
    height, width = tf.shape(mean)[0], tf.shape(mean)[1]
    spectrum = tf.complex(parameters[..., 0] * scale, parameters[..., 1] * scale)
    # An orthonormal inverse transform: one unit of a coefficient is one unit of energy in the image.
    size = tf.cast(height * width, tf.float32)
    signal = tf.signal.irfft2d(spectrum, fft_length=[height, width]) * tf.sqrt(size)  # (N, C, H, W)
    signal = tf.transpose(signal, (0, 2, 3, 1))
    correlated = tf.einsum("nhwc,dc->nhwd", signal, colour)
    unit = tf.clip_by_value(mean / 255.0, _EDGE, 1.0 - _EDGE)
    return 255.0 * tf.sigmoid(tf.math.log(unit / (1.0 - unit))[None] + correlated)


def _random_view(tf, pixels, settings: AscentSettings, seed):
    """A randomly shifted, scaled and rotated copy of each image; differentiable."""
    if not (settings.jitter or settings.scale or settings.rotation):
        return pixels
    draws = tf.random.stateless_uniform((tf.shape(pixels)[0], 4), seed, -1.0, 1.0)
    zoom = tf.exp(math.log1p(settings.scale) * draws[:, 2])
    angle = math.radians(settings.rotation) * draws[:, 3]
    return affine_view(tf, pixels, settings.jitter * draws[:, 0], settings.jitter * draws[:, 1], zoom, angle)


def affine_view(tf, pixels, shift_y, shift_x, zoom, angle):
    """Each image (N, H, W, C) rotated by `angle` radians and zoomed by `zoom` about its centre, then shifted by
    (`shift_y`, `shift_x`) pixels, each (N,): one fused bilinear resample, edges reflected. Its gradient is the
    inverse resample of the incoming gradient (TensorFlow's), cheaper than differentiating a gather."""
    height, width = tf.shape(pixels)[1], tf.shape(pixels)[2]
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    centre_y, centre_x = (tf.cast(height, tf.float32) - 1) / 2, (tf.cast(width, tf.float32) - 1) / 2
    # Where output pixel (x, y) comes from: the inverse of rotate-and-zoom about the centre, less the shift.
    zero = tf.zeros_like(cos)
    transforms = tf.stack(
        [
            cos,
            sin,
            centre_x - cos * centre_x - sin * centre_y - shift_x,
            -sin,
            cos,
            centre_y + sin * centre_x - cos * centre_y - shift_y,
            zero,
            zero,
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def penalties(tf, pixels, mean, settings: AscentSettings):
    """(N,) the penalty of each image: L2 of its deviation from the mean image, and total variation. The ascent
    never evaluates it: it needs only its gradient, `penalty_gradient`."""
    penalty = tf.zeros(tf.shape(pixels)[:1])
    deviation = pixels - mean[None]
    if settings.l2:
        if settings.parameterisation == "pixels":
            penalty += settings.l2 * tf.reduce_sum(deviation * deviation, axis=[1, 2, 3])
        else:
            unit = deviation / 255.0
            penalty += settings.l2 * tf.reduce_sum(unit * unit, axis=[1, 2, 3])
    if settings.total_variation:
        unit = pixels / 255.0
        down = tf.reduce_sum(tf.abs(unit[:, 1:] - unit[:, :-1]), axis=[1, 2, 3])
        across = tf.reduce_sum(tf.abs(unit[:, :, 1:] - unit[:, :, :-1]), axis=[1, 2, 3])
        penalty += settings.total_variation * (down + across)
    return penalty


def penalty_gradient(tf, pixels, mean, settings: AscentSettings):
    """d penalties / d pixels (N, H, W, C), written out (tests/test_inside.py holds it to automatic
    differentiation of `penalties`)."""
    gradient = tf.zeros_like(pixels)
    if settings.l2:
        per_pixel = 2.0 * settings.l2 if settings.parameterisation == "pixels" else 2.0 * settings.l2 / 255.0**2
        gradient += per_pixel * (pixels - mean[None])
    if settings.total_variation:
        unit = pixels / 255.0
        down = tf.sign(unit[:, 1:] - unit[:, :-1])  # each difference pulls its lower pixel up and its upper one down
        across = tf.sign(unit[:, :, 1:] - unit[:, :, :-1])
        rows = tf.pad(down, [[0, 0], [1, 0], [0, 0], [0, 0]]) - tf.pad(down, [[0, 0], [0, 1], [0, 0], [0, 0]])
        columns = tf.pad(across, [[0, 0], [0, 0], [1, 0], [0, 0]]) - tf.pad(across, [[0, 0], [0, 0], [0, 1], [0, 0]])
        gradient += settings.total_variation / 255.0 * (rows + columns)
    return gradient


def picture_gradient(tf, pixels, pixel_gradient, colour, scale, parameterisation: str):
    """d / d parameters from d / d pixels, through `_image_graph` backwards, written out (tests/test_inside.py
    holds it to automatic differentiation): the sigmoid's slope from the pixels it gave, the colour mixing
    transposed, and the inverse FFT's adjoint (a forward FFT, its doubled half-spectrum columns counted twice)."""
    if parameterisation == "pixels":
        return pixel_gradient
    height, width = tf.shape(pixels)[1], tf.shape(pixels)[2]
    correlated = pixel_gradient * pixels * (1.0 - pixels / 255.0)  # d(255 sigmoid(z)) / dz = 255 s (1 - s)
    signal = tf.transpose(tf.einsum("nhwd,dc->nhwc", correlated, colour), (0, 3, 1, 2))
    odd = width % 2
    doubled = tf.concat([[1.0], tf.fill([width // 2 - 1 + odd], 2.0), tf.ones([1 - odd])], 0)
    size = tf.cast(height * width, tf.float32)
    spectrum = tf.signal.rfft2d(signal, fft_length=[height, width]) * tf.cast(doubled / tf.sqrt(size), tf.complex64)
    return tf.stack([tf.math.real(spectrum) * scale, tf.math.imag(spectrum) * scale], axis=-1)


def chunk_function(model: LoadedModel, key, objective_graph, settings: AscentSettings):
    """The compiled loop `run(parameters, m, v, first_step, steps, targets, mean, colour, scale, seed)` -> (parameters,
    m, v, objective): `steps` Adam steps of ascent on objective − penalties, compiled once per model and key
    (the objective, the layer, the settings)."""

    def build():
        import tensorflow as tf

        # Shapes fixed to the model's input: with them known, the model's kernels are chosen for them once (with
        # unknown shapes a step of the bundled models cost a quarter more).
        height, width, channels = model.pixel_signature.shape[1:]
        if settings.parameterisation == "pixels":
            shape = [None, height, width, channels]
        else:
            shape = [None, *spectrum_shape(1, height, width, channels)[1:]]
        spec = tf.TensorSpec(shape, tf.float32)
        signature = [
            spec,
            spec,
            spec,
            tf.TensorSpec((), tf.int32),
            tf.TensorSpec((), tf.int32),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((height, width, channels), tf.float32),
            tf.TensorSpec((channels, channels), tf.float32),
            tf.TensorSpec((None, None), tf.float32),
            tf.TensorSpec((), tf.int32),
        ]
        lr, b1, b2, eps = settings.learning_rate, settings.beta_1, settings.beta_2, settings.epsilon

        # The picture forwards, and everything after the model's gradient (the penalties' gradient, the picture's
        # backwards, Adam) as two XLA-compiled functions: dozens of small element-wise operations fused. The
        # backwards are written out: differentiating the compiled picture took a third of a gradient step of the
        # bundled models. The resample (no XLA kernel) and the model stay outside.
        @tf.function(jit_compile=True)
        def picture(parameters, mean, colour, scale):
            return _image_graph(tf, parameters, mean, colour, scale, settings.parameterisation)

        @tf.function(jit_compile=True)
        def update(parameters, m, v, pixels, upstream, t, mean, colour, scale):
            pixel_gradient = upstream - penalty_gradient(tf, pixels, mean, settings)
            gradient = picture_gradient(tf, pixels, pixel_gradient, colour, scale, settings.parameterisation)
            m = b1 * m + (1 - b1) * gradient
            v = b2 * v + (1 - b2) * gradient * gradient
            alpha = lr * tf.sqrt(1 - b2**t) / (1 - b1**t)
            return parameters + alpha * m / (tf.sqrt(v) + eps), m, v

        @tf.function(input_signature=signature)
        def run(parameters, m, v, first_step, steps, targets, mean, colour, scale, seed):
            def step(i, parameters, m, v, objective):
                pixels = picture(parameters, mean, colour, scale)
                with tf.GradientTape() as tape:
                    tape.watch(pixels)
                    seen = _random_view(tf, pixels, settings, tf.stack([seed, first_step + i]))
                    objective = objective_graph(seen, targets)
                    total = tf.reduce_sum(objective)
                upstream = tape.gradient(total, pixels)
                t = tf.cast(first_step + i + 1, tf.float32)
                parameters, m, v = update(parameters, m, v, pixels, upstream, t, mean, colour, scale)
                return i + 1, parameters, m, v, objective

            objective = tf.zeros(tf.shape(targets), tf.float32)
            _, parameters, m, v, objective = tf.while_loop(
                lambda i, *_: i < steps, step, (tf.constant(0), parameters, m, v, objective)
            )
            return parameters, m, v, objective

        @tf.function(input_signature=[spec, signature[6], signature[7], signature[8]])
        def image(parameters, mean, colour, scale):
            return _image_graph(tf, parameters, mean, colour, scale, settings.parameterisation)

        return run, image

    # The seed is an argument, so another seed does not compile another loop.
    return model.compiled(("ascent", key, replace(settings, seed=0)), build)


def ascend(
    model: LoadedModel,
    key,
    objective_graph: Callable,
    targets: np.ndarray,
    steps: int,
    settings: AscentSettings,
    mean: np.ndarray,
    colour: np.ndarray,
    *,
    chunk: int = 10,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> AscentResult:
    """Runs `steps` steps for each target (one image per target), `chunk` steps per compiled call; between
    chunks `progress` gets the images so far and `stop()` may end it early (the result then says so)."""
    run, image = chunk_function(model, key, objective_graph, settings)
    targets = np.asarray(targets, np.int32)
    height, width, channels = mean.shape
    parameters = initial_parameters(settings, len(targets), height, width, channels)
    m, v = np.zeros_like(parameters), np.zeros_like(parameters)
    scale = frequency_scale(height, width)
    mean, colour = np.asarray(mean, np.float32), np.asarray(colour, np.float32)
    objective = np.zeros(len(targets), np.float32)
    done, started, stopped = 0, time.perf_counter(), False
    while done < steps:
        if stop is not None and stop():
            stopped = True
            break
        count = min(chunk, steps - done)
        parameters, m, v, objective = run(parameters, m, v, done, count, targets, mean, colour, scale, settings.seed)
        done += count
        if progress is not None:
            pixels = image(parameters, mean, colour, scale).numpy()
            progress(Progress(done, steps, objective.numpy(), _to_uint8(pixels), time.perf_counter() - started))
    pixels = image(parameters, mean, colour, scale).numpy()
    objective = np.asarray(objective, np.float32)
    return AscentResult(pixels, objective, done, time.perf_counter() - started, stopped)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
