"""Turn untrusted image uploads into plain (H, W, 3) uint8 RGB arrays, or a clear ImageError."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from core.errors import ImageError

MAX_BYTES = 25 * 1024 * 1024  # default byte limit of an upload
MAX_PIXELS = 40_000_000  # default pixel limit (width*height)
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")

_WHITE = (255, 255, 255)
_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for the models: pixels is (H, W, 3) uint8 in 0..255, read-only."""

    pixels: np.ndarray
    sha256: str  # hex digest of the uploaded bytes: the cache key for every result
    name: str  # cleaned display name

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def clean_name(name: str) -> str:
    """Base name of a user-supplied file name, printable characters only, at most 80 characters."""
    base = re.split(r"[\\/]", str(name))[-1]
    # Control and format characters could forge extra lines or reorder text in messages and logs.
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if len(base) > 80:
        base = base[:77] + "..."
    return base or "image"


def file_safe(text: str) -> str:
    """`text` for a file name: every character but letters, digits, '-' and '_' becomes '-'."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f}".removesuffix(".0") + " MB"


def _too_many_pixels(name: str, what: str, max_pixels: int) -> ImageError:
    if max_pixels >= 1_000_000:
        limit = f"{max_pixels / 1e6:g} megapixels"
    else:
        limit = f"{max_pixels:,} pixels"
    return ImageError(f"{name} {what}; the limit is {limit} — resize it and upload again.")


def decode_image(
    data: bytes,
    name: str = "image",
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    background: Sequence[int] = _WHITE,
) -> DecodedImage:
    """Decode uploaded bytes (first frame, EXIF orientation applied, transparency flattened onto
    `background`) into a DecodedImage; every failure is an ImageError naming the file."""
    name = clean_name(name)
    background = _background(background)
    # The size is checked before Pillow sees a single byte.
    if not data:
        raise ImageError(f"{name} is empty; choose the image file again and upload it.")
    if len(data) > max_bytes:
        raise ImageError(
            f"{name} is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)} — "
            "compress or resize it and upload again."
        )
    try:
        # Pillow's bomb check warns before it refuses; both must stop us. catch_warnings swaps
        # process-wide state, so another thread may briefly see this filter: harmless, as it
        # only ever turns the bomb warning into an error.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data)), formats=ALLOWED_FORMATS) as img:
                # Image.open only parsed the header: huge images are refused before allocating.
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_many_pixels(name, f"is {width}×{height} pixels", max_pixels)
                img.seek(0)
                img.load()  # raises on truncated data: LOAD_TRUNCATED_IMAGES is left False
                pixels = _to_rgb(ImageOps.exif_transpose(img), background)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(name, "has too many pixels to decode safely", max_pixels) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(
            f"{name} is not an image this app can open; upload a PNG, JPEG, GIF, BMP, TIFF or WebP file."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure here means a bad file
        raise ImageError(f"{name} is truncated or corrupt; re-export it and upload again.") from exc
    return DecodedImage(_read_only(pixels), hashlib.sha256(data).hexdigest(), name)


def image_from_array(pixels: np.ndarray, name: str, *, background: Sequence[int] = _WHITE) -> DecodedImage:
    """Wrap a generated or sample image: uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA,
    converted like decode_image; sha256 hashes the shape and the resulting RGB bytes."""
    name = clean_name(name)
    background = _background(background)
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ImageError(f"{name} has pixel type {arr.dtype}; it must be uint8 (0..255).")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise ImageError(
            f"{name} has shape {arr.shape}; it must be (height, width), (height, width, 3) or (height, width, 4)."
        )
    if arr.ndim == 2:
        rgb = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        rgb = _composite(arr, background)
    else:
        rgb = arr
    rgb = _read_only(rgb)
    digest = hashlib.sha256(f"array{rgb.shape}".encode() + rgb.tobytes()).hexdigest()
    return DecodedImage(rgb, digest, name)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB array; ValueError for anything else (a programming
    error, unlike the user's uploads)."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"encode_png needs an (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _to_rgb(img: Image.Image, background: Sequence[int]) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8."""
    if img.mode in _HIGH_BIT_MODES:
        # 16-bit samples: 65535 / 257 == 255 exactly, so the full range maps onto 0..255.
        return _grey_to_rgb(np.rint(np.asarray(img, dtype=np.float64) / 257))
    if img.mode == "I":
        # 32-bit signed ints carry no range: data that fits in 16 bits is taken as 16-bit
        # (divide by 257), larger data as the full int32 range; negatives clip to 0.
        values = np.clip(np.asarray(img, dtype=np.float64), 0, None)
        scale = 257.0 if values.max(initial=0) <= 65535 else (2**31 - 1) / 255
        return _grey_to_rgb(np.rint(values / scale))
    if img.mode == "F":
        # Floats: a maximum <= 1 means 0..1 data (scaled by 255), otherwise 0..255 data;
        # values outside the range clip and NaN becomes 0.
        values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.max(initial=0) <= 1:
            values = values * 255
        return _grey_to_rgb(np.rint(np.clip(values, 0, 255)))
    if {"A", "a"} & set(img.getbands()) or "transparency" in img.info:
        # Plain convert("RGB") would drop alpha and turn transparent pixels black; RGBA first
        # also resolves a palette or colour-key "transparency" entry into real alpha.
        if img.mode == "La":  # premultiplied grey has no direct route to RGBA
            img = img.convert("LA")
        return _composite(np.asarray(img.convert("RGBA")), background)
    return np.asarray(img.convert("RGB"))


def _background(background: Sequence[int]) -> tuple[int, int, int]:
    """Validate a caller's (r, g, b) background; a bad one is a programming error."""
    values = tuple(int(v) for v in background)
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"background must be three integers in 0..255, got {background!r}")
    return values  # type: ignore[return-value]


def _grey_to_rgb(values: np.ndarray) -> np.ndarray:
    grey = np.clip(values, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _composite(rgba: np.ndarray, background: Sequence[int]) -> np.ndarray:
    """(H, W, 4) uint8 straight alpha over an opaque RGB background -> (H, W, 3) uint8."""
    bg = np.asarray(background, dtype=np.uint32)
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:].astype(np.uint32)
    # +127 then floor-divide rounds to nearest (255 is odd, so there are no ties).
    return ((rgb * alpha + bg * (255 - alpha) + 127) // 255).astype(np.uint8)


def _read_only(pixels: np.ndarray) -> np.ndarray:
    out = np.array(pixels, dtype=np.uint8, order="C", copy=True)
    out.flags.writeable = False
    return out
