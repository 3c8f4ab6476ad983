"""How often each bundled model's familiarity check flags pictures like those it learned from, and the real
photos among the samples; a measurement, not a test.

Per model: the share flagged by the confidence floor, by the feature-distance ceiling and by either, on the 1,000
validation pictures of set 2 (the ceiling's and the floor's own calibration set: 5 % each by construction), on
300 pictures of set 3 (no model saw it, nor calibrated on it) and on the eight generated samples; then, for each
of the four photos (cat, coffee cup, astronaut, rocket), the answer, its confidence and its distance.

    .venv/bin/python -m benchmarks.familiarity [--validation 1000] [--fresh 300]
"""

from __future__ import annotations

import argparse

import core
from core import dataset
from core.catalog import BUNDLED
from core.classify import classify
from core.familiarity import assess_predictions
from core.samples import sample_images
from core.scoring import load_model


def flagged(model, images) -> tuple[float, float, float]:
    """The shares of `images` below the confidence floor, beyond the distance ceiling, and either."""
    verdicts = [assess_predictions(ranking, model.spec) for ranking in classify(model, list(images), 1)]
    count = max(1, len(verdicts))
    return (
        sum(not v.sure for v in verdicts) / count,
        sum(not v.near for v in verdicts) / count,
        sum(not v.familiar for v in verdicts) / count,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation", type=int, default=1000, help="pictures of set 2 (the calibration set)")
    parser.add_argument("--fresh", type=int, default=300, help="pictures of set 3 (never seen)")
    args = parser.parse_args()
    samples = sample_images()
    generated = [s.image.pixels for s in samples if s.label is not None]
    photos = [s for s in samples if s.label is None]
    for name in BUNDLED:
        model = load_model(name)
        cue = model.spec.card.get("cue")
        print(f"{name}:")
        for title, images in (
            (f"set 2, {args.validation} (calibration)", dataset.generate_batch(2, args.validation, cue=cue)[0]),
            (f"set 3, {args.fresh} (fresh)", dataset.generate_batch(3, args.fresh, cue=cue)[0]),
            ("8 generated samples", generated),
        ):
            unsure, far, either = flagged(model, images)
            print(f"  {title}: unsure {unsure:.1%}, far {far:.1%}, either {either:.1%}")
        for sample, ranking in zip(photos, classify(model, [s.image.pixels for s in photos], 1), strict=True):
            verdict = assess_predictions(ranking, model.spec)
            feature = verdict.feature
            print(
                f"  {sample.image.name}: {ranking[0].label} {ranking[0].probability:.1%} "
                f"(floor {verdict.calibration.floor:.1%}), distance {feature.distance:.2f} "
                f"(ceiling {feature.usual.ceiling:.2f}): {verdict.label}"
            )


if __name__ == "__main__":
    core.quiet_tensorflow()
    main()
