"""Grids and strips of the inside-the-model pictures (uint8), for the pages and the command line."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from core.render import colourise, framed

_GAP = 4
_WHITE = 255


def enlarged(pixels: np.ndarray, side: int) -> np.ndarray:
    """A picture scaled so its longer side is `side` (nearest neighbour: a feature map's cells stay visible)."""
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(np.asarray(pixels, np.uint8).squeeze() if pixels.ndim == 3 and pixels.shape[2] == 1
                              else np.asarray(pixels, np.uint8))  # fmt: skip
    return np.asarray(picture.convert("RGB").resize(size, Image.NEAREST))


def channel_tiles(maps: np.ndarray, channels, limit: float, signed: bool, side: int = 96) -> list[np.ndarray]:
    """Each channel of `maps` (h, w, k) coloured on the one limit, enlarged to `side` and framed."""
    return [framed(enlarged(colourise(maps[..., c], limit, signed), side)) for c in channels]


def grid(tiles: list[np.ndarray], columns: int, captions: list[str] | None = None) -> np.ndarray:
    """Tiles of one size in rows of `columns` on white, each with its caption under it."""
    height, width = tiles[0].shape[:2]
    caption = 14 if captions else 0
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * (width + _GAP) - _GAP, rows * (height + caption + _GAP) - _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for index, tile in enumerate(tiles):
        x, y = (index % columns) * (width + _GAP), (index // columns) * (height + caption + _GAP)
        canvas.paste(Image.fromarray(tile), (x, y))
        if captions:
            draw.text((x + 2, y + height + 1), captions[index], fill=(60, 60, 60))
    return np.asarray(canvas)


def with_box(pixels: np.ndarray, box: tuple[int, int, int, int], side: int = 160) -> np.ndarray:
    """The image enlarged to `side` with the box drawn on it in red."""
    picture = enlarged(pixels, side)
    scale = picture.shape[1] / pixels.shape[1]
    image = Image.fromarray(picture)
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    ImageDraw.Draw(image).rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=(255, 0, 81), width=2)
    return np.asarray(image)
