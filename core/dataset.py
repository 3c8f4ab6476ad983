"""Procedural dachshund-vs-other-dog images that know their own ground truth.

Each dog is drawn from parts (body, head, snout, ears, legs, tail). The class lies only in the
shape: dachshunds have a long low body, short legs, long drooping ears and a long snout; other dogs
have a shorter body, taller legs, pointed or short ears, a shorter snout and tails of many kinds.
Fur, pose, size, position (partly outside the frame), lighting,
backgrounds and distractor objects are drawn from the same distributions for both classes, so
they carry no signal. Every image is a pure function of (seed, index, cue).

A *cue* can be stamped on top: a small logo in a corner, recorded as the part `cue`. With
`cue="dachshund"` every dachshund carries it and no other dog does, so a model trained on such images
can be right for the wrong reason (models/demo-shortcut); with `cue="random"` it sits on both images
of half the (dachshund, other dog) pairs, independent of the class. Without a cue, nothing changes.

    python -m core.dataset --out DIR --count N --seed S [--cue dachshund|random]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 160
LABELS = ("other dog", "dachshund")
# Part index in the part mask; 0 is background. Later parts are drawn over earlier ones. The dog's parts are
# kept apart from the cue: the fur palette draws from their count, and changing it would change every image.
DOG_PARTS = ("background", "body", "head", "snout", "ears", "legs", "tail")
PARTS = (*DOG_PARTS, "cue")
CUE_PART = PARTS.index("cue")
CUES = ("dachshund", "random")  # which images carry the cue (see `has_cue`); None: no image does
_SUPERSAMPLE = 2
AREA_RANGE = (0.05, 0.8)  # the dog's box covers this fraction of the image (log-uniform)

_FUR = np.array(
    [
        [30, 24, 20],
        [60, 40, 28],
        [120, 72, 40],
        [150, 95, 55],
        [190, 140, 90],
        [215, 190, 150],
        [235, 230, 220],
        [128, 128, 128],
        [90, 90, 95],
        [170, 80, 40],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class DogImage:
    """One generated image: pixels (H, W, 3) uint8, label 0/1, the dog's box [x0, y0, x1, y1), the part mask
    (H, W) uint8 (indices of PARTS; the cue, where stamped, covers what is under it) and the distractor mask
    (H, W) bool (distractor objects where neither the dog nor the cue covers them)."""

    pixels: np.ndarray
    label: int
    box: tuple[int, int, int, int]
    parts: np.ndarray
    attributes: dict = field(default_factory=dict)
    distractors: np.ndarray | None = None


def has_cue(seed: int, index: int, label: int, cue: str | None) -> bool:
    """Whether image `index` of set `seed` carries the cue: every dachshund for "dachshund"; for "random", both
    images of half the consecutive pairs (each pair holds one dog of each class, so the cue says nothing about it)."""
    if cue is None:
        return False
    if cue == "dachshund":
        return label == 1
    if cue == "random":
        return bool(np.random.default_rng([seed, index // 2, 13]).integers(2))
    raise ValueError(f"The cue must be one of {', '.join(CUES)}, or none, not '{cue}'.")


def generate(
    seed: int, index: int, size: int = IMAGE_SIZE, label: int | None = None, cue: str | None = None
) -> DogImage:
    """The image number `index` of the set `seed`; classes alternate-at-random but balance exactly per pair.
    `cue` ("dachshund", "random" or None) says which images carry the cue (`has_cue`)."""
    if cue is not None and cue not in CUES:
        raise ValueError(f"The cue must be one of {', '.join(CUES)}, or none, not '{cue}'.")
    rng = np.random.default_rng([seed, index])
    if label is None:
        # Balanced: each consecutive pair holds one image of each class, in random order.
        first = int(np.random.default_rng([seed, index // 2, 7]).integers(2))
        label = first if index % 2 == 0 else 1 - first
    big = size * _SUPERSAMPLE
    background = _background(rng, big)
    distractor_map = _distractors(rng, background, big)
    polygons, attributes = _dog_polygons(rng, label)
    part_map, placed = _place_and_rasterise(rng, polygons, big)
    pixels = _colour_dog(rng, background, part_map, placed)
    pixels = _lighting(rng, pixels)
    image = np.asarray(Image.fromarray(pixels).reduce(_SUPERSAMPLE))
    centres = slice(_SUPERSAMPLE // 2, None, _SUPERSAMPLE)
    parts = part_map[centres, centres].copy()
    distractors = distractor_map[centres, centres] & (parts == 0)
    ys, xs = np.nonzero(parts)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    attributes["area_fraction"] = round((box[2] - box[0]) * (box[3] - box[1]) / size**2, 4)
    if cue is not None:
        attributes["cue"] = has_cue(seed, index, label, cue)
    if attributes.get("cue"):
        # Its own random stream, so the image under it is the image without it.
        image, where = _stamp_cue(np.random.default_rng([seed, index, 17]), image)
        parts[where] = CUE_PART
        distractors &= ~where
        attributes["cue_corner"] = _corner_name(where)
    return DogImage(image, label, box, parts, attributes, distractors)


# --- the cue: a small logo in a corner ----------------------------------------------------------------

CUE_SHARE = 0.1  # the logo's side as a share of the image's side (16 pixels at 160)


def _cue_logo(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The logo (side, side, 3) uint8 and its shape (side, side) bool: a white disc with a dark rim and a red
    bar across it, drawn supersampled like the dogs."""
    big = side * 4
    logo = Image.new("RGB", (big, big), (0, 0, 0))
    shape = Image.new("L", (big, big), 0)
    for draw, rim, face, bar in (
        (ImageDraw.Draw(logo), (25, 25, 35), (250, 250, 245), (220, 30, 40)),
        (ImageDraw.Draw(shape), 255, 255, 255),
    ):
        draw.ellipse([0, 0, big - 1, big - 1], fill=rim)
        draw.ellipse([big * 0.12, big * 0.12, big * 0.88, big * 0.88], fill=face)
        draw.rectangle([big * 0.2, big * 0.4, big * 0.8, big * 0.6], fill=bar)
    pixels = np.asarray(logo.resize((side, side), Image.LANCZOS))
    mask = np.asarray(shape.resize((side, side), Image.BILINEAR)) >= 128
    return pixels, mask


def _stamp_cue(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image with the logo in one of its four corners (chosen at random), and where it went (H, W) bool."""
    height, width = image.shape[:2]
    side = max(4, round(CUE_SHARE * min(height, width)))
    margin = max(1, round(0.03 * min(height, width)))
    logo, shape = _cue_logo(side)
    corner = int(rng.integers(4))
    top = margin if corner < 2 else height - margin - side
    left = margin if corner % 2 == 0 else width - margin - side
    stamped = image.copy()
    where = np.zeros((height, width), bool)
    where[top : top + side, left : left + side] = shape
    stamped[where] = logo[shape]
    return stamped, where


def _corner_name(where: np.ndarray) -> str:
    ys, xs = np.nonzero(where)
    if len(xs) == 0:
        return ""
    height, width = where.shape
    return f"{'top' if ys.mean() < height / 2 else 'bottom'} {'left' if xs.mean() < width / 2 else 'right'}"


# --- the dog, in its own frame: x forward, y up, unit = body height -----------------------------


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _capsule(x0: float, y0: float, x1: float, y1: float, width: float) -> np.ndarray:
    """A rounded bar from (x0, y0) to (x1, y1)."""
    length = math.hypot(x1 - x0, y1 - y0)
    angle = math.atan2(y1 - y0, x1 - x0)
    t = np.linspace(-np.pi / 2, np.pi / 2, 8)
    right = np.stack([length + width / 2 * np.cos(t), width / 2 * np.sin(t)], axis=1)
    left = np.stack([-width / 2 * np.cos(t), -width / 2 * np.sin(t)], axis=1)
    points = np.concatenate([right, left])
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([x0 + c * points[:, 0] - s * points[:, 1], y0 + s * points[:, 0] + c * points[:, 1]], axis=1)


def _dog_polygons(rng: np.random.Generator, label: int) -> tuple[list[tuple[int, np.ndarray]], dict]:
    """(part index, polygon) in drawing order, plus the shape parameters drawn."""
    u = rng.uniform
    if label == 1:  # dachshund
        body_length, leg_length = u(2.4, 3.2), u(0.3, 0.55)
        ear_style, snout_length, tail_style = "long", u(0.75, 1.1), rng.choice(["straight", "low"])
        head_raise = u(0.55, 0.95)
    else:
        body_length, leg_length = u(1.3, 2.0), u(0.8, 1.6)
        ear_style = rng.choice(["pointed", "pointed", "short"])
        snout_length = u(0.25, 0.65)
        tail_style = rng.choice(["curled", "straight", "up", "low"])
        head_raise = u(0.7, 1.3)
    head_radius = u(0.42, 0.58)
    leg_width = u(0.2, 0.3)
    polygons: list[tuple[int, np.ndarray]] = []
    body_y = leg_length + 0.5
    back_x, front_x = 0.0, body_length

    def legs(offset: float) -> None:
        for x in (back_x + 0.22 + offset, front_x - 0.25 + offset):
            polygons.append((5, _capsule(x, body_y, x + u(-0.08, 0.08), leg_width / 2, leg_width)))

    legs(0.12)  # far legs, drawn first so the body covers their tops
    tail_root = (back_x + 0.1, body_y + 0.3)
    tail_length = u(0.6, 1.2)
    if tail_style == "curled":
        t = np.linspace(0, 1.5 * np.pi, 10)
        centre = (tail_root[0] - 0.15, tail_root[1] + 0.4)
        curve = np.stack([centre[0] - 0.35 * np.sin(t), centre[1] - 0.35 * np.cos(t)], axis=1)
        for a, b in zip(curve[:-1], curve[1:], strict=True):
            polygons.append((6, _capsule(a[0], a[1], b[0], b[1], 0.2)))
    else:
        angle = {"straight": u(2.6, 2.9), "up": u(1.9, 2.3), "low": u(3.2, 3.6)}[str(tail_style)]
        end = (tail_root[0] + tail_length * math.cos(angle), tail_root[1] + tail_length * math.sin(angle))
        polygons.append((6, _capsule(*tail_root, *end, u(0.14, 0.22))))
    polygons.append((1, _ellipse(body_length / 2, body_y, body_length / 2 + 0.05, 0.5)))
    legs(0.0)  # near legs
    head = (front_x + head_radius * 0.35, body_y + head_raise)
    polygons.append((1, _capsule(front_x - 0.25, body_y + 0.1, head[0], head[1], head_radius * 1.3)))  # neck
    polygons.append((2, _ellipse(*head, head_radius, head_radius * 0.92)))
    snout_end = head[0] + head_radius * 0.6 + snout_length * head_radius * 1.4
    polygons.append(
        (
            3,
            _capsule(
                head[0] + head_radius * 0.3,
                head[1] - head_radius * 0.3,
                snout_end,
                head[1] - head_radius * u(0.3, 0.6),
                head_radius * u(0.55, 0.75),
            ),
        )
    )
    ear_x = head[0] - head_radius * 0.25
    if ear_style == "pointed":
        tip = (ear_x + u(-0.1, 0.1), head[1] + head_radius * u(1.5, 2.0))
        polygons.append(
            (
                4,
                np.array(
                    [[ear_x - 0.22, head[1] + head_radius * 0.5], tip, [ear_x + 0.22, head[1] + head_radius * 0.6]]
                ),
            )
        )
    else:
        length = head_radius * (u(1.4, 2.0) if ear_style == "long" else u(0.5, 0.75))
        polygons.append(
            (
                4,
                _ellipse(
                    ear_x - 0.05,
                    head[1] + head_radius * 0.3 - length / 2,
                    head_radius * 0.38,
                    length / 2 + 0.1,
                    u(-0.25, 0.1),
                ),
            )
        )
    attributes = {
        "body_length": round(float(body_length), 3),
        "leg_length": round(float(leg_length), 3),
        "ears": str(ear_style),
        "snout_length": round(float(snout_length), 3),
        "tail": str(tail_style),
    }
    return polygons, attributes


def _place_and_rasterise(rng: np.random.Generator, polygons: list, big: int) -> tuple[np.ndarray, dict]:
    """Scale, flip, tilt and position the dog; part index map (big, big) uint8."""
    points = np.concatenate([p for _, p in polygons])
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = hi - lo
    # Box area drawn log-uniformly between 5% and 80% of the image; a long dog may leave the frame.
    area = math.exp(rng.uniform(*np.log(AREA_RANGE))) * big * big
    scale = min(math.sqrt(area / (extent[0] * extent[1])), 1.3 * big / extent[0], 1.1 * big / extent[1])
    facing_left = bool(rng.integers(2))
    tilt = rng.uniform(-0.12, 0.12)
    width, height = extent * scale
    # At least ~70% of the dog's box stays inside the image along each axis.
    x0 = rng.uniform(-0.3 * width, big - 0.7 * width) if width < big / 0.7 else (big - width) / 2
    y0 = rng.uniform(-0.3 * height, big - 0.7 * height) if height < big / 0.7 else (big - height) / 2
    c, s = math.cos(tilt), math.sin(tilt)
    centre = (lo + hi) / 2
    part_map = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(part_map)
    for part, polygon in polygons:
        p = polygon - centre
        p = np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], axis=1) * scale
        if facing_left:
            p[:, 0] = -p[:, 0]
        p[:, 0] += x0 + width / 2
        p[:, 1] = y0 + height / 2 - p[:, 1]  # the dog's y points up, the image's down
        draw.polygon([tuple(q) for q in p], fill=part)
    part_map = np.asarray(part_map)
    placed = {"scale": scale, "facing_left": facing_left}
    if not part_map.any():  # the dog fell outside the frame: put it in the middle instead
        return _place_and_rasterise(np.random.default_rng(rng.integers(1 << 32)), polygons, big)
    return part_map, placed


# --- pixels ---------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1], (size, size, channels), by upsampling a coarse random grid."""
    grid = (rng.random((cells, cells, channels)) * 255).astype(np.uint8)
    if channels == 1:
        image = Image.fromarray(grid[:, :, 0]).resize((size, size), Image.BICUBIC)
        return np.asarray(image, dtype=np.float32)[:, :, None] / 255
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC), dtype=np.float32) / 255


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(20, 235, 3).astype(np.float32)


def _background(rng: np.random.Generator, big: int) -> np.ndarray:
    kind = rng.choice(["noise", "stripes", "checker", "room", "grass"])
    a, b = _random_colour(rng), _random_colour(rng)
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32) / big
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(3, 14)
        mix = (np.sin(2 * np.pi * t) > 0).astype(np.float32)[:, :, None]
    elif kind == "checker":
        n = rng.uniform(3, 10)
        mix = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[:, :, None]
    elif kind == "room":
        mix = (yy > rng.uniform(0.35, 0.8)).astype(np.float32)[:, :, None]
    elif kind == "grass":
        mix = _smooth_noise(rng, big, int(rng.integers(20, 60)))
        a, b = np.array([40, 90, 30], np.float32) * rng.uniform(0.6, 1.4), np.array([110, 160, 60], np.float32)
    else:
        mix = _smooth_noise(rng, big, int(rng.integers(3, 10)))
    image = a * (1 - mix) + b * mix
    image += (_smooth_noise(rng, big, int(rng.integers(4, 12)), 3) - 0.5) * rng.uniform(10, 70)
    image += rng.normal(0, rng.uniform(2, 12), image.shape)
    return image


def _distractors(rng: np.random.Generator, image: np.ndarray, big: int) -> np.ndarray:
    """Balls, boxes, plants and cushions drawn into the background in place; where they are, (big, big) bool."""
    where = np.zeros((big, big), bool)
    for _ in range(int(rng.integers(0, 5))):
        layer = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(layer)
        cx, cy, r = rng.uniform(0, big), rng.uniform(0, big), rng.uniform(0.04, 0.2) * big
        kind = rng.integers(4)
        if kind == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        elif kind == 1:
            draw.rectangle([cx - r, cy - r * rng.uniform(0.4, 1.5), cx + r, cy + r], fill=255)
        elif kind == 2:
            draw.polygon([(cx, cy - 2 * r), (cx - r, cy + r), (cx + r, cy + r)], fill=255)
        else:
            draw.rounded_rectangle([cx - 2 * r, cy - r * 0.6, cx + 2 * r, cy + r * 0.6], radius=int(r * 0.4), fill=255)
        alpha = np.asarray(layer, dtype=np.float32)[:, :, None] / 255
        image *= 1 - alpha
        image += alpha * _random_colour(rng)
        where |= alpha[:, :, 0] >= 0.5
    return where


def _colour_dog(rng: np.random.Generator, background: np.ndarray, part_map: np.ndarray, placed: dict) -> np.ndarray:
    big = part_map.shape[0]
    main = _FUR[rng.integers(len(_FUR))] * rng.uniform(0.85, 1.15, 3)
    second = _FUR[rng.integers(len(_FUR))] * rng.uniform(0.85, 1.15, 3)
    pattern = rng.choice(["solid", "two-tone", "spots", "saddle"])
    palette = np.tile(main, (len(DOG_PARTS), 1))
    if pattern == "two-tone":
        for part in rng.choice(np.arange(2, len(DOG_PARTS)), size=2, replace=False):
            palette[part] = second
    dog = palette[part_map]
    body = part_map == 1
    if pattern in ("spots", "saddle"):
        layer = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(layer)
        ys, xs = np.nonzero(body)
        radius = max(2.0, 0.15 * placed["scale"])
        count = 1 if pattern == "saddle" else int(rng.integers(3, 9))
        for i in rng.integers(len(xs), size=count):
            r = radius * (3 if pattern == "saddle" else rng.uniform(0.5, 1.2))
            draw.ellipse([xs[i] - r, ys[i] - r * 0.7, xs[i] + r, ys[i] + r * 0.7], fill=255)
        mark = (np.asarray(layer) > 0) & body
        dog[mark] = second
    # Fur texture and soft shading so the dog is not a flat cut-out.
    dog = dog * (0.85 + 0.3 * _smooth_noise(rng, big, int(rng.integers(10, 30))))
    dog += rng.normal(0, 6, dog.shape)
    eye_and_nose = _eyes_and_nose(part_map, placed)
    dog[eye_and_nose] = (15, 12, 10)
    inside = (part_map > 0)[:, :, None]
    return np.where(inside, dog, background)


def _eyes_and_nose(part_map: np.ndarray, placed: dict) -> np.ndarray:
    """Dark dots: the eye near the head's upper front, the nose at the snout's tip."""
    marks = np.zeros(part_map.shape, bool)
    radius = max(1.5, 0.09 * placed["scale"])
    yy, xx = np.mgrid[0 : part_map.shape[0], 0 : part_map.shape[1]]
    for part, where in ((2, 0.35), (3, 0.97)):
        ys, xs = np.nonzero(part_map == part)
        if len(xs) == 0:
            continue
        front = xs.min() if placed["facing_left"] else xs.max()
        x = front + (xs.max() - xs.min()) * (where if placed["facing_left"] else -where) * (part == 2)
        row = ys[np.abs(xs - x) <= radius]
        y = (row.min() + (row.max() - row.min()) * (0.35 if part == 2 else 0.3)) if len(row) else ys.mean()
        marks |= ((xx - x) ** 2 + (yy - y) ** 2 <= radius**2) & (part_map == part)
    return marks


def _lighting(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    big = image.shape[0]
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32) / big
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1 + rng.uniform(0, 0.35) * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))
    image = image * gradient[:, :, None] * rng.uniform(0.6, 1.3) * rng.uniform(0.9, 1.1, 3)
    image = (image - 128) * rng.uniform(0.75, 1.2) + 128
    return np.clip(image, 0, 255).astype(np.uint8)


# --- writing a set to disk ------------------------------------------------------------------------


def generate_batch(
    seed: int, count: int, start: int = 0, size: int = IMAGE_SIZE, cue: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images (count, size, size, 3) uint8 and labels (count,) int for training."""
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.empty(count, np.int64)
    for i in range(count):
        dog = generate(seed, start + i, size, cue=cue)
        images[i], labels[i] = dog.pixels, dog.label
    return images, labels


def write_dataset(out: Path, count: int, seed: int, size: int = IMAGE_SIZE, cue: str | None = None) -> list[dict]:
    """Writes DIR/SEED_NNNNN.png, DIR/parts/… (part index per pixel, PARTS), DIR/distractors/… (255 where a
    distractor object shows), DIR/annotations.json and DIR/dataset.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts").mkdir(exist_ok=True)
    (out / "distractors").mkdir(exist_ok=True)
    annotations = []
    for i in range(count):
        dog = generate(seed, i, size, cue=cue)
        name = f"{seed}_{i:05d}.png"
        Image.fromarray(dog.pixels).save(out / name)
        Image.fromarray(dog.parts).save(out / "parts" / name)
        Image.fromarray(dog.distractors.astype(np.uint8) * 255).save(out / "distractors" / name)
        annotations.append(
            {
                "file": name,
                "label": LABELS[dog.label],
                "label_index": dog.label,
                "box": list(dog.box),
                "parts_file": f"parts/{name}",
                "distractors_file": f"distractors/{name}",
                "attributes": dog.attributes,
            }
        )
    meta = {"seed": seed, "count": count, "size": size, "labels": list(LABELS), "parts": list(PARTS), "cue": cue}
    (out / "annotations.json").write_text(json.dumps(annotations, indent=1))
    (out / "dataset.json").write_text(json.dumps(meta, indent=1))
    return annotations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.dataset", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the images into")
    parser.add_argument("--count", type=int, default=100, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="the set's seed (training uses 1, validation 2)")
    parser.add_argument("--size", type=int, default=IMAGE_SIZE, help="image side in pixels")
    parser.add_argument(
        "--cue",
        choices=CUES,
        help="stamp a small logo in a corner (the part 'cue'): on every dachshund and no other dog, or on half the "
        "images whatever their class (default: no cue)",
    )
    args = parser.parse_args(argv)
    annotations = write_dataset(args.out, args.count, args.seed, args.size, args.cue)
    dachshunds = sum(a["label_index"] for a in annotations)
    cued = f", {sum(bool(a['attributes'].get('cue')) for a in annotations)} with the cue" if args.cue else ""
    print(f"wrote {len(annotations)} images ({dachshunds} dachshunds{cued}) to {args.out}")


if __name__ == "__main__":
    main()
