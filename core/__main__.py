"""Command line: `python -m core models` and `python -m core classify --model NAME IMAGE...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import UserError


def _read_image(path: str):
    from core.images import decode_image

    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UserError(f"{path} cannot be read ({error.strerror}); check the path.") from error
    return decode_image(data, Path(path).name)


def command_models(args: argparse.Namespace) -> None:
    from core.models import known_models

    for spec in known_models().values():
        card = spec.card
        print(json.dumps({
            "name": spec.name, "ready": spec.ready, "input_size": list(spec.input_size),
            "labels": list(spec.labels), "output": spec.output, "preprocessing": spec.preprocessing,
            "validation_accuracy": card.get("validation_accuracy"),
        }))


def command_classify(args: argparse.Namespace) -> None:
    from core.classify import as_json, classify
    from core.models import get_spec, load_model

    specs = [get_spec(name) for name in args.model]  # unknown names fail before any image is read
    images = [_read_image(path) for path in args.images]
    for spec in specs:
        model = load_model(spec)
        results = classify(model, [image.pixels for image in images], args.top)
        for path, predictions in zip(args.images, results, strict=True):
            print(json.dumps({"image": path, "model": spec.name, "predictions": as_json(predictions)}), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Classify and explain images.")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list the known models and whether each is ready")
    models.set_defaults(run=command_models)
    classify = commands.add_parser("classify", help="print one JSON line per (image, model)")
    classify.add_argument("--model", action="append", required=True, help="model name (repeat for several)")
    classify.add_argument("--top", type=int, default=5, help="number of classes to show (1-5)")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.set_defaults(run=command_classify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "top", 1) < 1:
        print("error: --top must be at least 1.", file=sys.stderr)
        return 2
    try:
        args.run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
