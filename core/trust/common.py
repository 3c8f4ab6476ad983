"""What the trust checks share: the reference maps every score is shown beside, progress and stopping."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.errors import UserError

Progress = Callable[[int, int], None]  # (model passes done, model passes in all), called between batches
StopCheck = Callable[[], bool]  # True: stop before the next batch

# Random maps are drawn from these seeds (one per reference map) unless a caller gives others.
REFERENCE_SEEDS = (0, 1, 2)


class Stopped(UserError):
    """A check stopped on request (`should_stop`) between two batches; nothing partial is returned."""


def check_stop(should_stop: StopCheck | None, done: int, total: int, what: str) -> None:
    if should_stop is not None and should_stop():
        raise Stopped(f"{what} stopped after {done:,} of {total:,} model passes; nothing was kept.")


def centre_blob(height: int, width: int) -> np.ndarray:
    """A Gaussian blob (H, W) float32 centred on the image, its spread a quarter of each side: the map of
    someone who guesses that the object is in the middle."""
    ys = (np.arange(height) + 0.5 - height / 2) / (height / 4)
    xs = (np.arange(width) + 0.5 - width / 2) / (width / 4)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)


def random_maps(height: int, width: int, seeds: tuple[int, ...] = REFERENCE_SEEDS) -> np.ndarray:
    """Maps (len(seeds), H, W) float32 of independent uniform noise: a map that knows nothing."""
    return np.stack([np.random.default_rng(seed).random((height, width)) for seed in seeds]).astype(np.float32)


def as_map(raw: np.ndarray, height: int, width: int, what: str = "The map") -> np.ndarray:
    """A 2-D map on a (height, width) grid (resized bilinearly where it is not), with NaN as 0; ValueError with
    one sentence for anything that is not a map."""
    from core.render import resize_map

    raw = np.asarray(raw, np.float32)
    if raw.ndim != 2 or raw.size == 0:
        raise ValueError(f"{what} must be a 2-D (height, width) array, not one of shape {raw.shape}.")
    return np.nan_to_num(resize_map(raw, width, height), nan=0.0, posinf=0.0, neginf=0.0)
