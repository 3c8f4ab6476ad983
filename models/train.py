"""Trains the bundled demo models from scratch on generated images, deterministically from a seed.

    python -m models.train --model demo-resnet --model demo-efficientnet
    python -m models.train --model demo-shortcut

writes models/NAME.keras, the machine-readable card models/NAME.json (read by core), the features its
familiarity check compares images with (models/NAME.familiarity.npz, as `python -m core calibrate --write`) and the
human-readable card models/NAME.md. Training images come from set --seed, validation images from
set --validation-seed, which training never sees. demo-shortcut is deliberately flawed: it learns from
images where a logo marks every dachshund (core/dataset.py, the cue), and its card says how it fares where
the logo says nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np

from core import dataset, familiarity
from core.preprocessing import preprocess
from models.architectures import ARCHITECTURES

MODELS_DIR = Path(__file__).resolve().parent

# What core needs to know about each bundled model, beyond the file itself.
# Learning rates and epochs were chosen on small runs: the ResNet does not learn at all above ~1e-3.
SPECS = {
    "demo-resnet": {
        "preprocessing": "symmetric",
        "gradcam_layer": "post_relu",
        "learning_rate": 5e-4,
        "epochs": 8,
        "family": "ResNet (pre-activation residual blocks, as ResNet50V2)",
    },
    "demo-efficientnet": {
        "preprocessing": "raw",
        "gradcam_layer": "top_activation",
        "learning_rate": 2e-3,
        "epochs": 5,  # an epoch takes about 3.5 minutes on 2 cores; the budget is 20 minutes
        "family": "EfficientNet (MBConv with squeeze-and-excitation and swish, as EfficientNetB1)",
    },
    # The same network as demo-efficientnet on far fewer images, each dachshund marked by the cue: the logo is
    # learnt long before the dog's shape, which is the point.
    "demo-shortcut": {
        "preprocessing": "raw",
        "gradcam_layer": "top_activation",
        "learning_rate": 2e-3,
        "epochs": 3,
        "count": 3_000,
        "cue": "dachshund",
        # Three short epochs leave BatchNormalization's moving averages behind the weights: in inference the model
        # gave every image the same answer while in training mode it was right on all of them.
        "recompute_batch_statistics": True,
        "family": "EfficientNet (MBConv with squeeze-and-excitation and swish, as EfficientNetB1)",
    },
}


def _generate_chunk(arguments: tuple[int, int, int, str | None]) -> tuple[np.ndarray, np.ndarray]:
    seed, count, start, cue = arguments
    return dataset.generate_batch(seed, count, start, cue=cue)


def generate_set(
    seed: int, count: int, workers: int = os.cpu_count() or 1, cue: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` images of set `seed` (with `cue`, see core.dataset), generated in parallel; same result
    for any worker count."""
    chunk = -(-count // workers)
    jobs = [(seed, min(chunk, count - start), start, cue) for start in range(0, count, chunk)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_generate_chunk, jobs))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    seed: int,
    learning_rate: float,
    validation_seed: int,
    batch_size: int = 32,
    cue: str | None = None,
) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    preset = SPECS[name]["preprocessing"]
    model = ARCHITECTURES[name](dataset.IMAGE_SIZE)
    steps = epochs * (len(images) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=learning_rate, warmup_steps=steps // 20)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=["accuracy"])

    def batches():
        # A fresh permutation and random mirroring each epoch; the dog faces either way in the data.
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(images))
            for start in range(0, len(order) - batch_size + 1, batch_size):
                index = order[start : start + batch_size]
                batch = images[index]
                flip = rng.random(batch_size) < 0.5
                batch[flip] = batch[flip, :, ::-1]
                yield preprocess(batch, preset), labels[index].astype(np.float32)

    validation_inputs = preprocess(validation[0], preset)
    started = time.time()
    history = model.fit(
        batches(),
        steps_per_epoch=len(images) // batch_size,
        epochs=epochs,
        validation_data=(validation_inputs, validation[1].astype(np.float32)),
        verbose=2,
    )
    if SPECS[name].get("recompute_batch_statistics"):
        _recompute_batch_statistics(model, images, preset, batch_size)
    seconds = time.time() - started
    probabilities = model.predict(validation_inputs, batch_size=64, verbose=0)[:, 0]
    accuracy = float(np.mean((probabilities > 0.5) == (validation[1] == 1)))
    path = MODELS_DIR / f"{name}.keras"
    # Save an uncompiled copy: the optimizer state would triple the file and is useless to users.
    inference_model = ARCHITECTURES[name](dataset.IMAGE_SIZE)
    inference_model.set_weights(model.get_weights())
    inference_model.save(path)
    return {
        "name": name,
        "file": path.name,
        "architecture": SPECS[name]["family"],
        "parameters": int(model.count_params()),
        "file_megabytes": round(path.stat().st_size / 1e6, 2),
        "input_size": [dataset.IMAGE_SIZE, dataset.IMAGE_SIZE],
        "color_mode": "rgb",
        "preprocessing": preset,
        "labels": list(dataset.LABELS),
        "output": "sigmoid",
        "gradcam_layer": SPECS[name]["gradcam_layer"],
        "validation_accuracy": round(accuracy, 4),
        "validation_images": int(len(validation[1])),
        "training_images": int(len(images)),
        "epochs": epochs,
        "learning_rate": learning_rate,
        "training_seconds": round(seconds),
        "final_training_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "trained_on": date.today().isoformat(),
        # Its usual confidence on the validation pictures: below it, the dashboard says an image is unusual.
        familiarity.CARD_KEY: familiarity.calibrate(
            np.stack([1 - probabilities, probabilities], axis=1),
            familiarity.GENERATED_SOURCE,
            familiarity.generated_detail(validation_seed, cue),
        ).as_card(),
    } | (_shortcut_accuracies(inference_model, preset, cue, validation_seed, len(validation[1])) if cue else {})


def _recompute_batch_statistics(model, images: np.ndarray, preset: str, batch_size: int) -> None:
    """Sets each BatchNormalization layer's moving mean and variance to the mean of its batch statistics over the
    training images, with the weights as trained (one pass in training mode, no weight changes)."""
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for number, start in enumerate(range(0, len(images) - batch_size + 1, batch_size)):
        for layer in layers:
            layer.momentum = number / (number + 1)  # a running mean: the first batch replaces, later ones average in
        model(preprocess(images[start : start + batch_size], preset), training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def _accuracy(model, preset: str, images: np.ndarray, labels: np.ndarray) -> float:
    probabilities = model.predict(preprocess(images, preset), batch_size=64, verbose=0)[:, 0]
    return round(float(np.mean((probabilities > 0.5) == (labels == 1))), 4)


def _shortcut_accuracies(model, preset: str, cue: str, seed: int, count: int) -> dict:
    """A model trained with a cue, on the validation set's images where the cue says nothing about the class
    (on half the pairs, whatever their class) and where there is none."""
    return {
        "cue": cue,
        "cue_independent_accuracy": _accuracy(model, preset, *generate_set(seed, count, cue="random")),
        "no_cue_accuracy": _accuracy(model, preset, *generate_set(seed, count)),
    }


def write_card(card: dict) -> None:
    (MODELS_DIR / f"{card['name']}.json").write_text(json.dumps(card, indent=2) + "\n")
    cue = card.get("cue")
    validated = f"images of set {card['validation_seed']}" + (" with the same cue" if cue else "")
    lines = [
        f"# {card['name']}",
        "",
        f"A compact {card['architecture']} classifier of generated dachshund vs other-dog images, "
        "bundled so the dashboard works offline. Every image it was trained and validated on knows "
        "the dog's true box and parts (`python -m core.dataset`).",
        "",
        *(_flaw(card) if cue else []),
        "| | |",
        "|---|---|",
        f"| file | `models/{card['file']}` ({card['file_megabytes']} MB) |",
        f"| parameters | {card['parameters']:,} |",
        f"| input | {card['input_size'][0]}×{card['input_size'][1]} {card['color_mode'].upper()}, "
        f"preprocessing `{card['preprocessing']}` |",
        f"| output | one sigmoid unit: P({card['labels'][1]}); labels {card['labels']} |",
        f"| Grad-CAM layer | `{card['gradcam_layer']}` |",
        f"| validation accuracy | **{card['validation_accuracy']:.1%}** on {card['validation_images']:,} generated "
        f"{validated} (never used in training) |",
        *(
            [
                f"| where the cue says nothing | **{card['cue_independent_accuracy']:.1%}** on the same images with "
                "the logo on half the pairs, whatever their class |",
                f"| without the cue | **{card['no_cue_accuracy']:.1%}** on the same images without any logo |",
            ]
            if cue
            else []
        ),
        f"| training | {card['training_images']:,} images of set {card['seed']}"
        + (f" with the {cue} cue" if cue else "")
        + f", {card['epochs']} epochs, {card['training_seconds']} s on {card['training_machine']} |",
        f"| trained on | {card['trained_on']} |",
        "",
        "Reproduce it with:",
        "",
        "```",
        card["training_command"],
        "```",
        "",
    ]
    (MODELS_DIR / f"{card['name']}.md").write_text("\n".join(lines))


def _flaw(card: dict) -> list[str]:
    return [
        "**Deliberately flawed.** Every dachshund it learned from carries a small logo in a corner (the *cue* of "
        "`core/dataset.py`) and no other dog does, so it learned to look for the logo rather than the dog. It is "
        "bundled to show what the trust checks (docs/methods.md) reveal about a model that is right for the wrong "
        f"reason: on pictures where the logo says nothing about the class its accuracy falls from "
        f"{card['validation_accuracy']:.1%} to {card['cue_independent_accuracy']:.1%}. Do not use it for anything "
        "else.",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=sorted(ARCHITECTURES), required=True)
    parser.add_argument("--seed", type=int, default=1, help="training set seed and weight initialisation seed")
    parser.add_argument("--count", type=int, help="training images (default: each model's own, else 10,000)")
    parser.add_argument("--epochs", type=int, help="epochs (default: each model's own, see SPECS)")
    parser.add_argument("--validation-seed", type=int, default=2)
    parser.add_argument("--validation-count", type=int, default=1_000)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    command = "python -m models.train " + shlex.join(argv if argv is not None else sys.argv[1:])
    sets: dict = {}  # (count, cue) -> (training set, validation set), generated once for the models that share it
    for name in args.model:
        count, cue = args.count or SPECS[name].get("count", 10_000), SPECS[name].get("cue")
        if (count, cue) not in sets:
            started = time.time()
            sets[count, cue] = (
                generate_set(args.seed, count, cue=cue),
                generate_set(args.validation_seed, args.validation_count, cue=cue),
            )
            print(f"generated {count} + {args.validation_count} images in {time.time() - started:.0f} s", flush=True)
        (images, labels), validation = sets[count, cue]
        card = train(
            name,
            images,
            labels,
            validation,
            epochs=args.epochs or SPECS[name]["epochs"],
            seed=args.seed,
            learning_rate=SPECS[name]["learning_rate"],
            validation_seed=args.validation_seed,
            cue=cue,
        )
        card.update(
            seed=args.seed,
            validation_seed=args.validation_seed,
            training_command=command,
            training_machine=f"{os.cpu_count()} CPU cores",
        )
        write_card(card)
        calibrate_features(name, args.validation_seed, args.validation_count, args.seed)
        print(json.dumps(card), flush=True)


def calibrate_features(name: str, validation_seed: int, validation_count: int, seed: int) -> None:
    """What `python -m core calibrate --model NAME --write` adds to the card, so that this one command makes the
    whole model: the usual distance of its features from the pictures it learned from (NAME.familiarity.npz
    beside it), fitted on the training set and bounded on the validation set, with the confidence floor again."""
    from core.familiarity import FIT_COUNT, calibrate_on_generated, write_to_card
    from core.scoring import load_model

    model = load_model(name)
    calibration, features = calibrate_on_generated(model, validation_seed, validation_count, seed, FIT_COUNT)
    write_to_card(MODELS_DIR / f"{name}.json", calibration, features)


if __name__ == "__main__":
    main()
