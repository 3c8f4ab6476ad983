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
    centroid = (
        float(mass.sum(axis=0) @ (np.arange(width) + 0.5) / total),
        float(mass.sum(axis=1) @ (np.arange(height) + 0.5) / total),
    )
    # Integral image: the mass of any box in O(1).
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = mass.cumsum(0).cumsum(1)
    # A side may not cross the pixel holding the centroid (the box's relative centre).
    centre = (min(int(centroid[0]), width - 1), min(int(centroid[1]), height - 1))
    orders = tuple(permutations(SIDES))
    boxes = _fit_all_orders(integral, centre, tol, smoothing, orders)
    return BoxFit(tuple(float(v) for v in boxes.mean(axis=0)), boxes, centroid, orders)


def _fit_all_orders(
    integral: np.ndarray, centre: tuple[int, int], tol: float, smoothing: int, orders: tuple[tuple[str, ...], ...]
) -> np.ndarray:
    """The 24 boxes, one per order, computed level by level: the orders share prefixes, so level k moves
    one side of each distinct k-side prefix (4 + 12 + 24 + 24 moves), all of a level in one array operation."""
    height, width = integral.shape[0] - 1, integral.shape[1] - 1
    boxes = {(): np.array([0, 0, width, height])}
    for level in range(4):
        prefixes = sorted({order[:level] for order in orders})
        moves = [(prefix, side) for prefix in prefixes for side in SIDES if side not in prefix]
        current = np.array([boxes[prefix] for prefix, _ in moves])
        moved = _move_sides(
            integral, current, np.array([SIDES.index(side) for _, side in moves]), centre, tol, smoothing
        )
        boxes.update({(*prefix, side): box for (prefix, side), box in zip(moves, moved, strict=True)})
    return np.array([boxes[order] for order in orders], float)


def _move_sides(
    integral: np.ndarray, boxes: np.ndarray, sides: np.ndarray, centre: tuple[int, int], tol: float, smoothing: int
) -> np.ndarray:
    """Moves side `sides[i]` (0 left, 1 right, 2 top, 3 bottom) of each box [x0, y0, x1, y1] towards the
    centroid, to the furthest position whose smoothed kept-mass fraction is still >= tol."""
    cx, cy = centre
    x0, y0, x1, y1 = (boxes[:, k : k + 1] for k in range(4))
    # Each side's current position, how it moves (+1 or -1) and the last position it may take.
    start = np.choose(sides, [x0[:, 0], x1[:, 0], y0[:, 0], y1[:, 0]])
    step = np.where(sides % 2 == 0, 1, -1)
    stop = np.choose(sides, [cx, cx + 1, cy, cy + 1])
    reach = np.abs(stop - start)
    offsets = np.arange(max(integral.shape))[None, :]
    # Past its reach a side stays put, which repeats the last value: the edge padding of the smoothing.
    positions = start[:, None] + step[:, None] * np.minimum(offsets, reach[:, None])
    side = sides[:, None]
    a0 = np.where(side == 0, positions, x0)
    a1 = np.where(side == 1, positions, x1)
    b0 = np.where(side == 2, positions, y0)
    b1 = np.where(side == 3, positions, y1)
    kept = integral[b1, a1] - integral[b0, a1] - integral[b1, a0] + integral[b0, a0]
    total = kept[:, :1]
    fraction = np.divide(kept, total, out=np.ones_like(kept), where=total > 0)
    smoothed = _smooth_rows(fraction, smoothing)
    allowed = (smoothed >= tol - 1e-12) & (offsets <= reach[:, None])
    # The furthest allowed offset; the curve never rises, so this is where it last keeps tol.
    furthest = np.where(allowed.any(axis=1), allowed.shape[1] - 1 - np.argmax(allowed[:, ::-1], axis=1), 0)
    moved = boxes.copy()
    moved[np.arange(len(boxes)), np.array([0, 2, 1, 3])[sides]] = start + step * furthest  # side -> column
    return moved


def _smooth_rows(curves: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of each row, the first value repeated on the left (the right is padded already)."""
    if width <= 1:
        return curves
    half = width // 2
    padded = np.concatenate(
        [np.repeat(curves[:, :1], half + 1, axis=1), curves, np.repeat(curves[:, -1:], half, axis=1)], axis=1
    )
    sums = np.cumsum(padded, axis=1)  # the extra first column makes the window differences start at zero
    return (sums[:, 2 * half + 1 :] - sums[:, : -2 * half - 1]) / (2 * half + 1)


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
