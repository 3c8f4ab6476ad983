"""A bounding box fitted to the mass of a saliency map (seed 000 §5.2), and the seed's
foreground/background split of saliency quantiles into Gaussian mixtures.

The map is a mass distribution. From the full image, one side at a time moves towards the mass
centroid until the box keeps `tol` of the mass it held before that move (the relative-mass curve
is smoothed first); after each move the remaining mass becomes the new total. All 24 orders of
the four sides are run and their boxes averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

SIDES = ("left", "right", "top", "bottom")


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
            tuple(float(v) for v in np.asarray(self.box) * factor),
            self.boxes * factor,
            (self.centroid[0] * factor[0], self.centroid[1] * factor[1]),
            self.orders,
        )


def mass_of(saliency: np.ndarray) -> np.ndarray:
    """The map as non-negative mass in [0, 1]: negative evidence carries no mass; scaled by the maximum."""
    mass = np.clip(np.nan_to_num(np.asarray(saliency, np.float64)), 0, None)
    peak = mass.max()
    return mass / peak if peak > 0 else mass


def fit_box(saliency: np.ndarray, tol: float = 0.9, smoothing: int = 3) -> BoxFit:
    """Fits the saliency-mass box to an (H, W) map; `smoothing` is the moving-average width in pixels."""
    if not 0 < tol <= 1:
        raise ValueError("tol must be in (0, 1]")
    mass = mass_of(saliency)
    height, width = mass.shape
    total = mass.sum()
    if total == 0:  # no evidence anywhere: the whole image is the only honest box
        whole = np.tile([0.0, 0.0, width, height], (24, 1))
        return BoxFit(
            (0.0, 0.0, float(width), float(height)), whole, (width / 2, height / 2), tuple(permutations(SIDES))
        )
    ys, xs = np.mgrid[0:height, 0:width]
    centroid = (float((mass * (xs + 0.5)).sum() / total), float((mass * (ys + 0.5)).sum() / total))
    # Integral image: the mass of any box in O(1).
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = mass.cumsum(0).cumsum(1)
    # A side may not cross the pixel holding the centroid (the box's relative centre).
    centre = (min(int(centroid[0]), width - 1), min(int(centroid[1]), height - 1))
    fitter = _SideFitter(integral, centre, tol, smoothing)
    orders = tuple(permutations(SIDES))
    boxes = np.array([fitter.fit((0, 0, width, height), order) for order in orders], float)
    return BoxFit(tuple(float(v) for v in boxes.mean(axis=0)), boxes, centroid, orders)


class _SideFitter:
    def __init__(self, integral: np.ndarray, centre: tuple[int, int], tol: float, smoothing: int) -> None:
        self.integral, self.centre, self.tol, self.smoothing = integral, centre, tol, smoothing
        self._memo: dict[tuple, tuple[int, int, int, int]] = {}

    def fit(self, box: tuple[int, int, int, int], order: tuple[str, ...]) -> tuple[int, int, int, int]:
        # The 24 orders share prefixes; memoising on (box, side) does 64 side moves instead of 96.
        for side in order:
            key = (box, side)
            if key not in self._memo:
                self._memo[key] = self._move(box, side)
            box = self._memo[key]
        return box

    def _mass(self, x0, y0, x1, y1):
        i = self.integral
        return i[y1, x1] - i[y0, x1] - i[y1, x0] + i[y0, x0]

    def _move(self, box: tuple[int, int, int, int], side: str) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = box
        cx, cy = self.centre
        total = self._mass(x0, y0, x1, y1)
        if total <= 0:
            return box
        # Candidate positions of the side, from where it is now to the centroid's pixel.
        if side == "left":
            positions = np.arange(x0, cx + 1)
            kept = self._mass(positions, y0, x1, y1)
        elif side == "right":
            positions = np.arange(x1, cx, -1)
            kept = self._mass(x0, y0, positions, y1)
        elif side == "top":
            positions = np.arange(y0, cy + 1)
            kept = self._mass(x0, positions, x1, y1)
        else:
            positions = np.arange(y1, cy, -1)
            kept = self._mass(x0, y0, x1, positions)
        fraction = _smooth(np.broadcast_to(kept, positions.shape) / total, self.smoothing)
        # The furthest position that still keeps tol of the mass; the curve never rises, and its first
        # value (the side where it is now) is 1 before smoothing, so some position nearly always qualifies.
        keeps = np.flatnonzero(fraction >= self.tol - 1e-12)
        furthest = positions[keeps[-1]] if len(keeps) else positions[0]
        if side == "left":
            return (int(furthest), y0, x1, y1)
        if side == "right":
            return (x0, y0, int(furthest), y1)
        if side == "top":
            return (x0, int(furthest), x1, y1)
        return (x0, y0, x1, int(furthest))


def _smooth(curve: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average, edges repeated, so the curve's level at its ends is kept."""
    if width <= 1 or len(curve) < 2:
        return curve
    half = width // 2
    padded = np.concatenate([np.repeat(curve[:1], half), curve, np.repeat(curve[-1:], half)])
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def iou(a, b) -> float:
    """Intersection over union of two [x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class ForegroundSplit:
    """Seed 000 §5.2's first idea: colour models of the surely-foreground and surely-background pixels."""

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
