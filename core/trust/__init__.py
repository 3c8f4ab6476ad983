"""Can an explanation be trusted? Numbers beside a map, each with the same number for reference maps.

- `faithfulness`: deletion and insertion curves (does removing what the map points at lower the score?);
- `localisation`: pointing game, energy in the box, the fitted box's IoU and the share of the map on each
  part of a generated dog, where the truth is known;
- `sanity`: the map as the model's weights are randomised layer by layer (does the map depend on the model?).

Each is a pure function returning a small frozen dataclass; the costly ones say their cost in model passes
before running (`*_passes`) and take a `progress(done, total)` callback and a `should_stop()` check between
batches. docs/methods.md says how to read each number.
"""

from core.trust.common import Progress, StopCheck, Stopped, centre_blob, random_maps

__all__ = ["Progress", "StopCheck", "Stopped", "centre_blob", "random_maps"]
