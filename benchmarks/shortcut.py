"""How demo-shortcut, trained with a logo on every dachshund, fares where the logo says nothing, and what the
trust checks show about it beside demo-efficientnet; a measurement, not a test.

On generated images of set 3 (no model saw it): accuracy with the dachshund cue (as in training), with the cue
on half the pairs whatever their class, and without any cue; then, on the cue-random images, each model's map
of its own prediction: the share of its positive mass on the cue and how often its maximum lies on the cue
(images with the cue), the energy in the dog's box, the pointing game and the deletion AUC, beside a uniform
map's (or random maps') score.

    .venv/bin/python -m benchmarks.shortcut [--images 400] [--method gradcam] [--faithfulness 40]
"""

from __future__ import annotations

import argparse

import numpy as np

import core
from core import dataset
from core.explain import explain
from core.scoring import load_model
from core.trust.faithfulness import faithfulness_report
from core.trust.localisation import Truth, localisation_report

MODELS = ("demo-efficientnet", "demo-shortcut")
SEED = 3


def accuracy(model, cue: str | None, count: int) -> float:
    images, labels = dataset.generate_batch(SEED, count, cue=cue)
    predicted = model.probabilities(model.spec.resize(list(images))).argmax(axis=1)
    return float((predicted == labels).mean())


def measure(name: str, count: int, method: str, faithful: int) -> dict:
    model = load_model(name)
    dogs = [dataset.generate(SEED, i, cue="random") for i in range(count)]
    pixels = model.spec.resize([dog.pixels for dog in dogs])
    targets = model.scores(pixels).argmax(axis=1)
    maps = explain(model, pixels, targets, method)
    reports = [localisation_report(raw, Truth.of_generated(dog)) for raw, dog in zip(maps, dogs, strict=True)]
    cued = [r for r, dog in zip(reports, dogs, strict=True) if dog.attributes["cue"]]
    deletion = [faithfulness_report(model, pixels[i], int(targets[i]), maps[i]) for i in range(min(faithful, count))]
    return {
        "accuracy, cue on every dachshund (as in training)": accuracy(model, "dachshund", count),
        "accuracy, cue independent of the class": float((targets == [d.label for d in dogs]).mean()),
        "accuracy, no cue": accuracy(model, None, count),
        f"map's positive mass on the cue ({len(cued)} images with it)": np.mean([r.map.parts["cue"] for r in cued]),
        "the same for a uniform map (the cue's area)": np.mean([r.references["uniform"].parts["cue"] for r in cued]),
        "share of those images whose map peaks on the cue": np.mean([list(r.map.peak) == ["cue"] for r in cued]),
        "energy in the dog's box": np.nanmean([r.map.energy_in_box for r in reports]),
        "the same for a uniform map (the box's area)": np.mean(
            [r.references["uniform"].energy_in_box for r in reports]
        ),
        "pointing game hits": np.mean([r.map.pointing_hit for r in reports]),
        "the same for a random pixel": np.mean([r.references["uniform"].pointing_hit for r in reports]),
        f"deletion AUC ({len(deletion)} images)": np.mean([r.map.deletion_auc for r in deletion]),
        "the same for random maps": np.mean([r.references["random"].deletion_auc for r in deletion]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shortcut", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--faithfulness", type=int, default=40, help="images whose deletion curves are measured")
    args = parser.parse_args(argv)
    core.quiet_tensorflow()
    results = {name: measure(name, args.images, args.method, args.faithfulness) for name in MODELS}
    print(f"{args.images} generated images of set {SEED}; maps: {args.method}")
    print(f"| | {' | '.join(MODELS)} |")
    print(f"|---|{'---|' * len(MODELS)}")
    for key in results[MODELS[0]]:
        print(f"| {key} | {' | '.join(f'{results[name][key]:.3f}' for name in MODELS)} |")


if __name__ == "__main__":
    main()
