"""Turning raw maps into pictures: colour scales (per map, per image or shared), overlays, colour bars and boxes.
The only place where maps are normalised and coloured (the methods return them raw)."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping

import numpy as np
from PIL import Image, ImageDraw

from core.boxes import BoxFit, scale_box

# Unsigned maps: plasma's colours stay visible on dark and on light photos (inferno's weak end is near black, so
# on a dark photo it shows nothing, and on a light one it greys the photo).
UNSIGNED_COLOURMAP = "plasma"
# Signed maps: blue against, red for, as shap draws them (its light blue and crimson, which stay visible on dark
# photos where pure blue does not); white at zero in the raw map, clear in the overlay.
SIGNED_COLOURMAP = "against-for"
_SIGNED_COLOURS = ("#008bfb", "#ffffff", "#ff0051")
FRAME = (170, 170, 170)  # a light grey edge, so a mostly white raw map or colour bar stands out on a white page

# How maps shown together share a colour scale (see `colour_limits`).
SHARED = "shared"  # one scale for every map, so strengths compare across images and models
PER_IMAGE = "per image"  # one scale per image, shared by the models (or methods) explaining it
PER_MAP = "per map"  # each map its own scale: its strongest evidence gets full colour
COLOUR_SCALES = (SHARED, PER_IMAGE, PER_MAP)
# A map whose own colour limit is below this share of the limit it is drawn with reads as nearly clear.
FAINT = 0.25


def colour_limit(maps: np.ndarray, signed: bool, percentile: float = 99.5) -> float:
    """The value that gets full colour: a high percentile of |map|, so one hot pixel does not wash out the rest;
    1.0 for a map that is zero everywhere (nothing gets colour; see `is_blank`)."""
    values = np.abs(np.asarray(maps, np.float64))
    limit = float(np.percentile(values, percentile)) if values.size else 0.0
    return limit if limit > 0 else float(values.max() or 1.0)


def colour_limits(
    maps: Mapping[tuple[Hashable, Hashable], np.ndarray], signed: bool, scale: str
) -> dict[tuple[Hashable, Hashable], float]:
    """Each map's colour limit under the policy `scale` (one of COLOUR_SCALES); `maps` are keyed by
    (model or method, image), and the maps of one image share a limit under PER_IMAGE."""
    if scale == PER_MAP:
        return {key: colour_limit(raw, signed) for key, raw in maps.items()}
    if scale not in COLOUR_SCALES:
        raise ValueError(f"There is no colour scale '{scale}'; choose one of {', '.join(COLOUR_SCALES)}.")
    groups: dict[Hashable, list] = {}
    for key in maps:
        groups.setdefault(None if scale == SHARED else key[1], []).append(key)
    limits = {}
    for keys in groups.values():
        # Models may have different input sizes, so their maps are pooled as values, not stacked.
        limit = colour_limit(np.concatenate([np.ravel(maps[key]) for key in keys]), signed)
        limits |= dict.fromkeys(keys, limit)
    return limits


def is_blank(raw: np.ndarray) -> bool:
    """True when the map is zero everywhere: there is nothing to colour, whatever the scale."""
    return not np.any(raw)


def limit_caption(raw: np.ndarray, limit: float, signed: bool, scale: str) -> str:
    """The colour limit of one map in words for its caption: which scale it is on, and, on a scale it shares with
    stronger maps, how faint it is ('colour limit 0.05 (shared) · this map peaks at 4% of it')."""
    if is_blank(raw):
        return "zero everywhere: nothing to colour"
    if scale == PER_MAP:
        return f"colour limit {limit:.3g} (this map's own)"
    shared_by = "shared" if scale == SHARED else "shared by this image's maps"
    caption = f"colour limit {limit:.3g} ({shared_by})"
    own = colour_limit(raw, signed) / limit
    return caption + (f" · this map peaks at {own:.0%} of it" if own < FAINT else "")


def scale_sentence(scale: str) -> str:
    """Which colour scale the pictures are on, in one sentence for the page."""
    return {
        PER_MAP: "Colour scale: each map its own, so every map is readable; compare where the colour is, not how "
        "strong it is from map to map.",
        PER_IMAGE: "Colour scale: shared by the maps of each image, so a fainter map has weaker evidence than "
        "its neighbour.",
        SHARED: "Colour scale: one for every map on the page, so a fainter map has weaker evidence.",
    }[scale]


@functools.cache
def colourmap_named(name: str | None, signed: bool):
    """The matplotlib colour map of that name, or the default for signed or unsigned maps (None)."""
    from matplotlib import colormaps
    from matplotlib.colors import LinearSegmentedColormap

    name = name or (SIGNED_COLOURMAP if signed else UNSIGNED_COLOURMAP)
    if name == SIGNED_COLOURMAP:
        return LinearSegmentedColormap.from_list(name, _SIGNED_COLOURS, N=255)  # odd: zero falls on pure white
    return colormaps[name]


def colourise(raw: np.ndarray, limit: float, signed: bool, colourmap: str | None = None) -> np.ndarray:
    """(H, W) map -> (H, W, 3) uint8: [0, limit] for unsigned maps, [-limit, limit] for signed ones."""
    scaled = (raw / limit + 1) / 2 if signed else raw / limit
    return (colourmap_named(colourmap, signed)(np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)


def framed(picture: np.ndarray) -> np.ndarray:
    """The picture with a one-pixel light grey edge (FRAME)."""
    picture = np.array(picture, np.uint8)
    picture[[0, -1], :] = FRAME
    picture[:, [0, -1]] = FRAME
    return picture


def resize_map(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """One (h, w) map resized bilinearly to (height, width) float32, pixel centres aligned: a layer's map to the
    model's input, or a map to the displayed image."""
    if raw.shape == (height, width):
        return raw.astype(np.float32)
    return np.asarray(Image.fromarray(raw.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))


def overlay(
    image: np.ndarray,
    raw: np.ndarray,
    limit: float,
    signed: bool,
    *,
    opacity: float = 0.6,
    colourmap: str | None = None,
    exponent: float = 1.0,
) -> np.ndarray:
    """The map coloured over the image (H, W, 3) uint8. Each pixel's opacity is `opacity` × strength ** `exponent`
    (strength = |value| / limit, at most 1), so where the map is 0 the image's own pixels show, unchanged. Unsigned
    maps take the colour map's colour of their strength; signed maps one colour per sign (the colour map's ends),
    so weak evidence is a faint tint of that colour, never a pale veil."""
    height, width = image.shape[:2]
    resized = resize_map(raw, width, height)
    strength = np.clip(np.abs(resized) / limit, 0, 1)
    cmap = colourmap_named(colourmap, signed)
    if signed:
        ends = np.array([cmap(0.0)[:3], cmap(1.0)[:3]], np.float32) * 255
        colours = ends[(resized > 0).astype(np.intp)]
    else:
        colours = cmap(strength)[..., :3].astype(np.float32) * 255
    alpha = (opacity * strength**exponent)[..., None]
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha).round().astype(np.uint8)


def colour_bar(
    signed: bool, colourmap: str | None = None, exponent: float = 1.0, width: int = 256, height: int = 14
) -> np.ndarray:
    """What the overlay's colours mean, as a framed strip (height, width, 3) uint8 drawn by `overlay` itself over
    white at full opacity: left to right, from the colour limit against the class (signed) or from no influence
    (unsigned) to the colour limit for the class."""
    values = np.linspace(-1.0 if signed else 0.0, 1.0, width, dtype=np.float32)
    ramp = np.broadcast_to(values, (height, width))
    white = np.full((height, width, 3), 255, np.uint8)
    return framed(overlay(white, ramp, 1.0, signed, opacity=1.0, colourmap=colourmap, exponent=exponent))


def display_size(pixels: np.ndarray, side: int = 640) -> np.ndarray:
    """The image scaled for display: large photos down (overlays on 4000 pixels would be slow and no sharper),
    small ones up (so boxes and dots are drawn crisply rather than enlarged by the browser)."""
    height, width = pixels.shape[:2]
    scale = min(side / max(height, width), 4.0)
    if abs(scale - 1.0) < 0.05:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.LANCZOS))


def explanation_picture(
    pixels: np.ndarray,
    raw: np.ndarray,
    fit: BoxFit | None,
    limit: float,
    signed: bool,
    *,
    opacity: float = 0.6,
    colourmap: str | None = None,
    exponent: float = 1.0,
    side: int | None = 640,
    true_box=None,
) -> np.ndarray:
    """The overlay of one map on its image with the saliency-fitted box (and the true box, where known), at
    display size; `fit` and `true_box` are in the coordinates of `pixels`."""
    shown = display_size(pixels, side) if side else pixels
    picture = overlay(shown, raw, limit, signed, opacity=opacity, colourmap=colourmap, exponent=exponent)
    height, width = pixels.shape[:2]
    if fit is not None:
        fit = fit.scaled(shown.shape[1], shown.shape[0], width, height)
    if true_box is not None:
        true_box = scale_box(true_box, shown.shape[1], shown.shape[0], width, height)
    return draw_boxes(picture, fit, true_box, all_boxes=False)


def draw_boxes(image: np.ndarray, fit: BoxFit | None, true_box=None, *, all_boxes: bool = True) -> np.ndarray:
    """The box fit's picture: the centroid as a red dot, the 24 boxes in thin red, their mean in
    thick cyan; the true box, where known, in dashed green. Coordinates are the image's."""
    picture = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture, "RGBA")
    thick = max(2, round(max(picture.size) / 160))
    if true_box is not None:
        _dashed_rectangle(draw, true_box, (40, 220, 90, 255), thick)
    if fit is not None:
        if all_boxes:
            for box in fit.boxes:
                draw.rectangle(_inclusive(box), outline=(255, 40, 40, 110), width=1)
        draw.rectangle(_inclusive(fit.box), outline=(0, 230, 255, 255), width=thick)
        x, y = fit.centroid
        radius = thick * 1.5
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 30, 30, 255))
    return np.asarray(picture)


def _inclusive(box) -> list[float]:
    x0, y0, x1, y1 = box
    return [x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)]


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box, colour, width: int, dash: int = 6) -> None:
    x0, y0, x1, y1 = _inclusive(box)
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
        for t in np.arange(0, length, 2 * dash):
            a, b = t / max(length, 1), min(t + dash, length) / max(length, 1)
            draw.line(
                [
                    (start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a),
                    (start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b),
                ],
                fill=colour,
                width=width,
            )


def strongest_regions(raw: np.ndarray, count: int) -> np.ndarray:
    """A piecewise-constant map (LIME: one weight per superpixel) with only the `count` regions of largest
    |weight| kept, the rest set to 0 — lime's own `num_features`."""
    values = np.unique(raw[raw != 0])
    if len(values) <= count:
        return raw
    keep = values[np.argsort(-np.abs(values), kind="stable")[:count]]
    return np.where(np.isin(raw, keep), raw, 0).astype(raw.dtype)
