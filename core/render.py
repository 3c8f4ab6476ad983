"""Turning raw maps into pictures: colour scales (per map, per image or shared), overlays, colour bars and boxes.
The only place where maps are normalised and coloured (the methods return them raw)."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from numba import njit
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
OPACITY = 0.6  # how strongly the map's strongest evidence covers the image, where no one chose
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


def limit_caption(raw: np.ndarray, limit: float, signed: bool, scale: str, own: float | None = None) -> str:
    """The colour limit of one map in words for its caption: which scale it is on, and, on a scale it shares with
    stronger maps, how faint it is ('colour limit 0.05 (shared) · this map peaks at 4% of it'); `own` is the map's
    own colour_limit where it is known already."""
    if is_blank(raw):
        return "zero everywhere: nothing to colour"
    if scale == PER_MAP:
        return f"colour limit {limit:.3g} (this map's own)"
    shared_by = "shared" if scale == SHARED else "shared by this image's maps"
    caption = f"colour limit {limit:.3g} ({shared_by})"
    share = (colour_limit(raw, signed) if own is None else own) / limit
    return caption + (f" · this map peaks at {share:.0%} of it" if share < FAINT else "")


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


@dataclass(frozen=True)
class OverlayLayer:
    """A map coloured for one displayed image, ready to blend at any opacity: each pixel's colour, an index (H, W)
    uint8 into `colours` (K, 3) float32 on 0-255, and its weight, strength ** exponent (H, W) float32 in [0, 1]."""

    index: np.ndarray
    colours: np.ndarray
    weight: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + self.colours.nbytes + self.weight.nbytes


def overlay_layer(
    height: int,
    width: int,
    raw: np.ndarray,
    limit: float,
    signed: bool,
    *,
    colourmap: str | None = None,
    exponent: float = 1.0,
) -> OverlayLayer:
    """The coloured layer of a finite map for an image of (height, width), as `overlay` blends it: unsigned maps
    take the colour map's colour of their strength (strength = |value| / limit, at most 1), signed maps one colour
    per sign (the colour map's ends)."""
    resized = resize_map(raw, width, height)
    strength = np.clip(np.abs(resized) / limit, 0, 1)
    cmap = colourmap_named(colourmap, signed)
    if signed:
        colours = np.array([cmap(0.0)[:3], cmap(1.0)[:3]], np.float32) * 255
        index = (resized > 0).astype(np.uint8)
    else:
        # matplotlib's own lookup of a float in [0, 1]: scaled by the table's length, 1.0 in the last entry, floored.
        colours = cmap(np.arange(cmap.N))[:, :3].astype(np.float32) * 255
        scaled = strength * cmap.N
        scaled[scaled == cmap.N] = cmap.N - 1
        index = scaled.astype(np.uint8)
    return OverlayLayer(index, colours, strength**exponent)


def blend(image: np.ndarray, layer: OverlayLayer, opacity: float) -> np.ndarray:
    """The layer over the image (H, W, 3) uint8, each pixel at opacity `opacity` × its weight."""
    image = np.ascontiguousarray(image, np.uint8)
    if image.shape[:2] != layer.weight.shape:
        raise ValueError(f"A layer of {layer.weight.shape} cannot be blended over an image of {image.shape[:2]}.")
    return _blend(image, layer.index, layer.colours, layer.weight, np.float32(opacity))


# The blend as a compiled loop (numba): as float32 array operations it took about 20 ms for a 640-pixel picture
# on these machines, most of the time of redrawing a page at a new opacity; compiled, about 2 ms. It does the
# same float32 operations in the same order as the array formulation in tests/test_render.py, so the pictures
# are identical to the last bit.
@njit(cache=True)
def _blend(image, index, colours, weight, opacity):
    height, width = weight.shape
    picture = np.empty((height, width, 3), np.uint8)
    one = np.float32(1.0)
    for y in range(height):
        for x in range(width):
            alpha = opacity * weight[y, x]
            keep = one - alpha
            colour = colours[index[y, x]]
            for channel in range(3):
                value = np.float32(image[y, x, channel]) * keep + colour[channel] * alpha
                picture[y, x, channel] = np.uint8(np.rint(value))
    return picture


def warm_up() -> threading.Thread:
    """Starts compiling the blend in a background thread (a second or two the first time, far less from numba's
    cache in __pycache__), so that the first picture does not pay for it."""
    thread = threading.Thread(target=_compile_blend, name="blend warm-up", daemon=True)
    thread.start()
    return thread


def _compile_blend() -> None:
    arrays = [np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((1, 3), np.float32)]
    arrays.append(np.zeros((2, 2), np.float32))
    for writeable in (True, False):  # cached pictures and layers are read-only, which numba compiles apart
        for array in arrays:
            array.flags.writeable = writeable
        _blend(*arrays, np.float32(0.5))


def overlay(
    image: np.ndarray,
    raw: np.ndarray,
    limit: float,
    signed: bool,
    *,
    opacity: float = OPACITY,
    colourmap: str | None = None,
    exponent: float = 1.0,
) -> np.ndarray:
    """The map coloured over the image (H, W, 3) uint8. Each pixel's opacity is `opacity` × strength ** `exponent`
    (strength = |value| / limit, at most 1), so where the map is 0 the image's own pixels show, unchanged. Unsigned
    maps take the colour map's colour of their strength; signed maps one colour per sign (the colour map's ends),
    so weak evidence is a faint tint of that colour, never a pale veil."""
    height, width = image.shape[:2]
    layer = overlay_layer(height, width, raw, limit, signed, colourmap=colourmap, exponent=exponent)
    return blend(image, layer, opacity)


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


# Pictures of photos (overlays, thumbnails) go to the browser as JPEG of this quality: a third of the bytes of the
# quality-100 JPEG that st.image makes of an array, and quicker to encode; drawn maps and colour keys, which have
# flat colours and sharp edges, go as PNG, exactly.
JPEG_QUALITY = 90


def picture_file(picture: np.ndarray, *, photo: bool) -> bytes:
    """The (H, W, 3) uint8 picture as file bytes for the browser: JPEG where `photo`, else PNG."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.asarray(picture, np.uint8))
    if photo:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG", compress_level=3)  # as small as the default level on maps, and quicker
    return buffer.getvalue()


def square_thumbnail(pixels: np.ndarray, side: int = 256) -> np.ndarray:
    """The largest centred square of the image, scaled to side x side: every thumbnail the same shape."""
    height, width = pixels.shape[:2]
    crop = min(height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    square = Image.fromarray(np.asarray(pixels, np.uint8)[top : top + crop, left : left + crop])
    return np.asarray(square.resize((side, side), Image.LANCZOS) if crop != side else square)


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
    opacity: float = OPACITY,
    colourmap: str | None = None,
    exponent: float = 1.0,
    side: int | None = 640,
    true_box=None,
) -> np.ndarray:
    """The overlay of one map on its image with the saliency-fitted box (and the true box, where known), at
    display size; `fit` and `true_box` are in the coordinates of `pixels`."""
    shown = display_size(pixels, side) if side else pixels
    picture = overlay(shown, raw, limit, signed, opacity=opacity, colourmap=colourmap, exponent=exponent)
    return with_boxes(picture, fit, true_box, pixels.shape[1], pixels.shape[0])


def with_boxes(picture: np.ndarray, fit: BoxFit | None, true_box, width: int, height: int) -> np.ndarray:
    """The picture (an image of width×height, shown at another size) with the saliency-fitted box and the true box,
    both given in the image's coordinates; the picture itself where there is neither."""
    if fit is None and true_box is None:
        return picture
    shown_height, shown_width = picture.shape[:2]
    if fit is not None:
        fit = fit.scaled(shown_width, shown_height, width, height)
    if true_box is not None:
        true_box = scale_box(true_box, shown_width, shown_height, width, height)
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
