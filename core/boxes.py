"""A bounding box fitted to the mass of a saliency map, and the foreground/background split of saliency
quantiles into Gaussian mixtures (both described in docs/methods.md).

The map is a mass distribution. From the full image, one side at a time moves towards the mass
centroid until the box keeps `tol` of the mass it held before that move (the relative-mass curve
is smoothed first); after each move the remaining mass becomes the new total. All 24 orders of
the four sides are run and their boxes averaged.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from itertools import permutations

import numpy as np
from numba import njit

SIDES = ("left", "right", "top", "bottom")
ORDERS = tuple(permutations(SIDES))  # the 24 orders of moving the sides, in the order of BoxFit.boxes
_LARGEST = float(np.finfo(np.float64).max)  # what np.nan_to_num turns +inf into


@dataclass(frozen=True)
class BoxFit:
    """Boxes are [x0, y0, x1, y1] in map pixels, x1/y1 exclusive; centroid is (x, y)."""

    box: tuple[float, float, float, float]  # the mean of the 24 boxes
    boxes: np.ndarray  # (24, 4) float, one per order of sides
    centroid: tuple[float, float]
    orders: tuple[tuple[str, ...], ...]

    def scaled(self, width: int, height: int, map_width: int, map_height: int) -> BoxFit:
        """The same fit in the coordinates of an image of another size (the map was resized to the model's input)."""
        factor = np.array([width / map_width, height / map_height] * 2)
        return BoxFit(
            scale_box(self.box, width, height, map_width, map_height),
            self.boxes * factor,
            (self.centroid[0] * factor[0], self.centroid[1] * factor[1]),
            self.orders,
        )


def scale_box(box, width: int, height: int, from_width: int, from_height: int) -> tuple[float, float, float, float]:
    """A box [x0, y0, x1, y1] in an image of from_width×from_height moved to the same place in one of width×height."""
    x_factor, y_factor = width / from_width, height / from_height
    x0, y0, x1, y1 = box
    return (float(x0 * x_factor), float(y0 * y_factor), float(x1 * x_factor), float(y1 * y_factor))


def mass_of(saliency: np.ndarray) -> np.ndarray:
    """The map as non-negative mass in [0, 1]: negative evidence carries no mass; scaled by the maximum."""
    mass = np.clip(np.nan_to_num(np.asarray(saliency, np.float64)), 0, None)
    peak = mass.max()
    return mass / peak if peak > 0 else mass


def fit_box(saliency: np.ndarray, tol: float = 0.9, smoothing: int = 3) -> BoxFit:
    """Fits the saliency-mass box to an (H, W) map; `smoothing` is the moving-average width in pixels."""
    if not 0 < tol <= 1:
        raise ValueError("tol must be in (0, 1]")
    values = np.ascontiguousarray(saliency, np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"fit_box needs a non-empty (H, W) map, got shape {values.shape}")
    if not values.flags.writeable:  # numba compiles read-only arrays separately: copy instead
        values = values.copy()
    mass, integral = _mass_and_integral(values)
    height, width = mass.shape
    total = mass.sum()
    if total == 0:  # no evidence anywhere: the whole image is the only honest box
        whole = np.tile([0.0, 0.0, width, height], (24, 1))
        return BoxFit((0.0, 0.0, float(width), float(height)), whole, (width / 2, height / 2), ORDERS)
    centroid = (
        float(mass.sum(axis=0) @ (np.arange(width) + 0.5) / total),
        float(mass.sum(axis=1) @ (np.arange(height) + 0.5) / total),
    )
    # A side may not cross the pixel holding the centroid (the box's relative centre).
    centre_x, centre_y = min(int(centroid[0]), width - 1), min(int(centroid[1]), height - 1)
    boxes = _fit_all_orders(integral, centre_x, centre_y, float(tol), int(smoothing))
    return BoxFit(tuple(float(v) for v in boxes.mean(axis=0)), boxes, centroid, ORDERS)


@functools.cache  # once per process: later calls return the same thread
def warm_up() -> threading.Thread:
    """Starts compiling the box fit in a background thread (about 3 s the first time, 0.3 s from numba's cache
    in __pycache__), so that the first map does not pay for it."""
    thread = threading.Thread(target=fit_box, args=(np.eye(4),), name="fit_box warm-up", daemon=True)
    thread.start()
    return thread


# The box fitting runs as compiled loops (numba): as array operations the 64 side moves of a 160x160 map
# cost about 1 ms of numpy call overhead, a quarter of a forward pass of the bundled models; compiled, the
# whole fit takes about 0.1 ms. The loops do the same float operations in the same order as the array
# formulation they replaced (sequential running sums for the integral image and the moving average), so
# the boxes are bit for bit the same; tests/test_boxes.py checks them against a plain numpy reference.
# `cache=True` keeps the compiled code in __pycache__ (ignored by git).


@njit(cache=True)
def _mass_and_integral(saliency):
    """`mass_of` (the same values) and its integral image with a zero first row and column."""
    height, width = saliency.shape
    mass = np.empty((height, width))
    peak = 0.0
    for y in range(height):
        for x in range(width):
            value = saliency[y, x]
            # Not positive (NaN, −inf and negative evidence included): no mass; +inf: the largest float.
            value = min(value, _LARGEST) if value > 0 else 0.0
            mass[y, x] = value
            peak = max(peak, value)
    if peak > 0:
        for y in range(height):
            for x in range(width):
                mass[y, x] = mass[y, x] / peak
    # Running sums down the columns, then along the rows: the additions of numpy's cumsum(0).cumsum(1),
    # in its order. The row pass runs four rows side by side, so that no addition waits on the one before.
    integral = np.zeros((height + 1, width + 1))
    for y in range(height):
        for x in range(width):
            integral[y + 1, x + 1] = integral[y, x + 1] + mass[y, x]
    y = 1
    while y + 3 <= height:
        a, b, c, d = integral[y, 1], integral[y + 1, 1], integral[y + 2, 1], integral[y + 3, 1]
        for x in range(2, width + 1):
            a = integral[y, x] = a + integral[y, x]
            b = integral[y + 1, x] = b + integral[y + 1, x]
            c = integral[y + 2, x] = c + integral[y + 2, x]
            d = integral[y + 3, x] = d + integral[y + 3, x]
        y += 4
    for row in range(y, height + 1):
        for x in range(2, width + 1):
            integral[row, x] = integral[row, x - 1] + integral[row, x]
    return mass, integral


@njit(cache=True)
def _fit_all_orders(integral, centre_x, centre_y, tol, smoothing):
    """The box [x0, y0, x1, y1] of each order of the sides, in the order of `ORDERS`. The orders share
    prefixes, so a depth-first walk moves each distinct prefix's last side once (4 + 12 + 24 + 24 moves)."""
    height, width = integral.shape[0] - 1, integral.shape[1] - 1
    length = max(height, width) + 1  # the curve length of the array formulation, which sets its edge padding
    half = smoothing // 2 if smoothing > 1 else 0
    curve = np.empty(length)
    running = np.empty(length + 2 * half + 2)
    boxes = np.empty((24, 4))
    level = np.empty((5, 4), np.int64)  # the box after 0, 1, 2, 3 and 4 moves
    level[0, 0], level[0, 1], level[0, 2], level[0, 3] = 0, 0, width, height
    row = 0
    for first in range(4):
        _move_side(integral, level, 0, first, centre_x, centre_y, tol, smoothing, half, length, curve, running)
        for second in range(4):
            if second == first:
                continue
            _move_side(integral, level, 1, second, centre_x, centre_y, tol, smoothing, half, length, curve, running)
            for third in range(4):
                if third == first or third == second:
                    continue
                _move_side(integral, level, 2, third, centre_x, centre_y, tol, smoothing, half, length, curve, running)
                fourth = 6 - first - second - third
                _move_side(integral, level, 3, fourth, centre_x, centre_y, tol, smoothing, half, length, curve, running)
                for c in range(4):
                    boxes[row, c] = level[4, c]
                row += 1
    return boxes


@njit(cache=True)
def _move_side(integral, level, depth, side, centre_x, centre_y, tol, smoothing, half, length, curve, running):
    """level[depth + 1] := level[depth] with `side` (0 left, 1 right, 2 top, 3 bottom) moved towards the
    centroid, to the furthest position whose smoothed kept-mass fraction is still >= tol (see docs/methods.md,
    "The box fitted to a map's mass")."""
    for c in range(4):
        level[depth + 1, c] = level[depth, c]
    box = level[depth + 1]
    column = (0, 2, 1, 3)[side]  # left x0, right x1, top y0, bottom y1
    start = box[column]
    step = 1 if side % 2 == 0 else -1
    stop = (centre_x, centre_x + 1, centre_y, centre_y + 1)[side]
    reach = min(abs(stop - start), length - 1)
    # The kept mass at each offset; past its reach a side stays put, so the curve repeats its last value.
    a0, b0, a1, b1 = box[0], box[1], box[2], box[3]
    for offset in range(reach + 1):
        position = start + step * offset
        if side == 0:
            a0 = position
        elif side == 1:
            a1 = position
        elif side == 2:
            b0 = position
        else:
            b1 = position
        curve[offset] = integral[b1, a1] - integral[b0, a1] - integral[b1, a0] + integral[b0, a0]
    total = curve[0]
    for offset in range(reach + 1):
        curve[offset] = curve[offset] / total if total > 0 else 1.0
    threshold = tol - 1e-12
    furthest = 0
    if smoothing <= 1:
        for offset in range(reach + 1):
            if curve[offset] >= threshold:
                furthest = offset
    else:
        # Centred moving average of width 2 * half + 1 as the difference of a running sum over the curve
        # padded with half + 1 copies of its first value on the left and copies of its last on the right.
        window = 2 * half + 1
        total = 0.0
        for index in range(reach + window + 1):
            total += curve[min(max(index - half - 1, 0), reach)]
            running[index] = total
        for offset in range(reach + 1):
            if (running[offset + window] - running[offset]) / window >= threshold:
                furthest = offset
    box[column] = start + step * furthest


def iou(a, b) -> float:
    """Intersection over union of two [x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class ForegroundSplit:
    """Colour models of the surely-foreground and surely-background pixels (docs/methods.md, the foreground
    colour model)."""

    foreground: np.ndarray  # (H, W) bool: saliency at or above the `high` quantile
    background: np.ndarray  # (H, W) bool: saliency at or below the `low` quantile
    probability: np.ndarray  # (H, W) float32: P(foreground | colour) from the two mixtures, equal priors


def foreground_background(
    saliency: np.ndarray,
    pixels: np.ndarray,
    *,
    low: float = 0.30,
    high: float = 0.95,
    components: int = 3,
    seed: int = 0,
) -> ForegroundSplit:
    """Splits pixels at the `low`/`high` saliency quantiles and fits a Gaussian mixture of `components`
    to the colours of each part (Simonyan et al. 2014, §6); `pixels` (H, W, C) match the map's size."""
    from sklearn.mixture import GaussianMixture

    values = np.asarray(saliency, np.float64)
    foreground = values >= np.quantile(values, high)
    background = values <= np.quantile(values, low)
    colours = np.asarray(pixels, np.float64).reshape(-1, pixels.shape[-1]) / 255.0
    log_densities = []
    for mask in (foreground, background):
        samples = colours[mask.reshape(-1)]
        mixture = GaussianMixture(
            min(components, len(samples)), covariance_type="full", reg_covar=1e-4, random_state=seed
        ).fit(samples)
        log_densities.append(mixture.score_samples(colours))
    # P(fg | colour) = 1 / (1 + exp(log p_bg − log p_fg)), computed stably.
    probability = 1.0 / (1.0 + np.exp(np.clip(log_densities[1] - log_densities[0], -50, 50)))
    return ForegroundSplit(foreground, background, probability.reshape(values.shape).astype(np.float32))
