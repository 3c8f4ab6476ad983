"""Command line: `python -m core models`, `methods`, `classify`, `explain`, `sanity`, `report`, `evaluate`, `batch`,
`download`, `quantise`, `calibrate`, `layers` and `visualize` (see `--help`)."""

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


def _model_options(args: argparse.Namespace) -> dict:
    """What --labels, --preprocess, --color, --output and --trusted say, for models given as files."""
    return {
        "labels": args.labels,
        "preprocessing": args.preprocess,
        "colour_mode": args.color,
        "output": args.output,
        "trusted": args.trusted,
    }


def _resolve_model(name_or_path: str, args: argparse.Namespace):
    from core.catalog import resolve

    return resolve(name_or_path, **_model_options(args))


def command_models(args: argparse.Namespace) -> None:
    from core.catalog import known_models, registry_errors, registry_path

    for spec in known_models().values():
        card = spec.card
        print(
            json.dumps(
                {
                    "name": spec.name,
                    "ready": spec.ready,
                    "format": spec.format,
                    "gradients": spec.differentiable,
                    "path": str(spec.path),
                    "input_size": list(spec.input_size),
                    "color_mode": spec.colour_mode,
                    "labels": list(spec.labels) if len(spec.labels) <= 20 else f"{len(spec.labels)} classes",
                    "output": spec.output,
                    "preprocessing": spec.preprocessing,
                    "validation_accuracy": card.get("validation_accuracy"),
                }
            )
        )
    for problem in registry_errors():
        print(f"warning: {problem} (registry: {registry_path()})", file=sys.stderr)


def command_download(args: argparse.Namespace) -> None:
    from core.catalog import get_spec
    from core.zoo import download

    spec = get_spec(args.model)
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 0
        if percent // 10 != shown[0] // 10 or done == total:
            shown[0] = percent
            print(f"{spec.name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB", file=sys.stderr, flush=True)

    print(json.dumps({"name": spec.name, "path": str(download(spec, progress)), "ready": spec.ready}), flush=True)


def command_quantise(args: argparse.Namespace) -> None:
    from core.quantise import compare_float16, export_float16, quantise

    spec = _resolve_model(args.model, args)
    if not args.images:
        report = quantise(spec, args.out)
    else:
        images = [_read_image(path) for path in args.images]  # a bad image fails before the conversion
        tflite, _ = export_float16(spec, args.out)
        report = compare_float16(spec, tflite, [image.pixels for image in images], list(args.images))
    print(json.dumps(report.as_dict()), flush=True)


def command_classify(args: argparse.Namespace) -> None:
    from core.classify import as_json, classify
    from core.familiarity import assess_predictions
    from core.scoring import load_model

    specs = [_resolve_model(name, args) for name in args.model]  # unknown models fail before any image is read
    images = [_read_image(path) for path in args.images]
    for spec in specs:
        model = load_model(spec)
        results = classify(model, [image.pixels for image in images], args.top)
        for path, predictions in zip(args.images, results, strict=True):
            familiarity = assess_predictions(predictions, spec)
            line = {"image": path, "model": spec.name, "predictions": as_json(predictions), **familiarity.as_json()}
            print(json.dumps(line), flush=True)


def command_calibrate(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from core.familiarity import calibrate_on_generated, features_path, write_to_card
    from core.model_files import card_path
    from core.scoring import load_model

    spec = _resolve_model(args.model, args)
    model = load_model(spec)
    calibration, features = calibrate_on_generated(model, args.seed, args.count, args.fit_seed, args.fit_count)
    if args.write:
        write_to_card(card_path(spec.path), calibration, features)
    printed = None if features is None else {**asdict(features.usual), "ceiling": round(features.usual.ceiling, 4)}
    if printed is not None and args.write:
        printed |= {"file": str(features_path(card_path(spec.path))), "shrinkage": round(features.space.shrinkage, 4)}
    print(json.dumps({"model": spec.name, **calibration.as_card(), "features": printed}), flush=True)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    """--param NAME=VALUE pairs as {name: text}; each method converts and checks its own (`Method.parse`)."""
    params = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise UserError(f"--param {pair} should look like KEY=VALUE, e.g. --param num_samples=200.")
        params[key.strip()] = value
    return params


def command_methods(args: argparse.Namespace) -> None:
    from core.explain import METHODS

    print(json.dumps([method.describe() for method in METHODS.values()], indent=2))


def command_explain(args: argparse.Namespace) -> None:
    import time

    import numpy as np
    from PIL import Image

    from core import boxes
    from core.explain import explain_images, method_named
    from core.render import colour_limit, explanation_picture
    from core.scoring import load_model

    boxes.warm_up()  # compiles the box fit while the model loads
    spec = _resolve_model(args.model, args)
    method = method_named(args.method)
    params = method.parse(_parse_params(args.param))
    target = _target_index(spec, args.target)
    truths = _truths_for(args)
    images = [_read_image(path) for path in args.images]
    model = load_model(spec)
    args.out.mkdir(parents=True, exist_ok=True)
    targets = None if target is None else [target] * len(images)
    started = time.perf_counter()
    results = explain_images(model, [image.pixels for image in images], method.name, targets, params, args.tol)
    seconds = (time.perf_counter() - started) / len(images)
    for path, image, result in zip(args.images, images, results, strict=True):
        stem = f"{Path(path).stem}.{spec.name}.{method.name}"
        np.save(args.out / f"{stem}.npy", result.map)
        limit = colour_limit(result.map, method.signed)
        picture = explanation_picture(
            image.pixels, result.map, result.fit, limit, method.signed, colourmap=method.colourmap, side=None
        )
        Image.fromarray(picture).save(args.out / f"{stem}.png")
        record = {
            "image": path,
            "model": spec.name,
            "method": method.name,
            "target": result.target_label,
            "map": f"{stem}.npy",
            "overlay": f"{stem}.png",
            "box": [round(v, 2) for v in result.fit.box],
            "centroid": [round(v, 2) for v in result.fit.centroid],
            "map_size": list(result.map.shape),
            "signed": method.signed,
            "params": params,
            "seconds": round(seconds, 4),
            **{key: round(value, 6) for key, value in result.diagnostics.items()},
        }
        if args.metrics:
            record.update(_trust_record(model, path, image.pixels, result, truths, args))
        (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1))
        print(json.dumps(record), flush=True)


def _target_index(spec, label: str | None) -> int | None:
    if label is None:
        return None
    if label not in spec.labels:
        raise UserError(f"{spec.name} has no class '{label}'; its classes: {', '.join(spec.labels)}.")
    return spec.labels.index(label)


def _truths_for(args: argparse.Namespace) -> dict | None:
    """The truths of --truth for every image, read before any model runs; None without --truth."""
    from core.trust.faithfulness import check_options
    from core.trust.localisation import read_truths

    if args.truth is not None and not args.metrics:
        raise UserError("--truth goes with --metrics: add --metrics to score the maps against the truth.")
    if args.metrics:
        try:
            check_options(args.steps, args.substrate)
        except ValueError as error:
            raise UserError(str(error)) from error
    if args.truth is None:
        return None
    truths = read_truths(args.truth)
    missing = [path for path in args.images if Path(path).name not in truths]
    if missing:
        raise UserError(f"{args.truth} has no entry for {Path(missing[0]).name}; give the annotations of these images.")
    return truths


def _trust_record(model, path: str, pixels, result, truths: dict | None, args: argparse.Namespace) -> dict:
    """The --metrics part of an explain record: faithfulness, and localisation with --truth."""
    from core.trust import check_map

    truth = _truth_of(truths, path, pixels)
    checks = check_map(model, pixels, result, truth, steps=args.steps, substrate=args.substrate, tol=args.tol)
    record = {"faithfulness": checks.faithfulness.as_json()}
    if checks.localisation is not None:
        record["localisation"] = checks.localisation.as_json()
    return record


def _truth_of(truths: dict | None, path: str, pixels):
    """The truth (from `_truths_for`) of the image read from `path`, on its own grid; None without --truth."""
    return None if truths is None else truths[Path(path).name].on(*pixels.shape[:2])


def command_sanity(args: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    from core.explain import method_named
    from core.scoring import load_model
    from core.trust.sanity import sanity_check, sanity_strip, unrandomisable_sentence

    spec = _resolve_model(args.model, args)
    method = method_named(args.method)
    params = method.parse(_parse_params(args.param))
    target = _target_index(spec, args.target)
    if args.steps < 1:
        raise UserError("--steps must be at least 1.")
    images = [_read_image(path) for path in args.images]
    model = load_model(spec)
    reason = unrandomisable_sentence(model)
    if reason is not None:
        raise UserError(reason)
    args.out.mkdir(parents=True, exist_ok=True)
    pixels = model.spec.resize([image.pixels for image in images])
    targets = model.scores(pixels).argmax(axis=1) if target is None else np.full(len(images), target)

    def progress(done: int, total: int) -> None:
        print(f"sanity check: {done:,} of {total:,} model passes", file=sys.stderr, flush=True)

    results = sanity_check(model, pixels, targets, method.name, params, steps=args.steps, progress=progress)
    for path, result, target_index in zip(args.images, results, targets, strict=True):
        stem = f"{Path(path).stem}.{spec.name}.{method.name}.sanity"
        Image.fromarray(sanity_strip(result, signed=method.signed)).save(args.out / f"{stem}.png")
        record = {
            "image": path,
            "target": spec.labels[int(target_index)],
            "strip": f"{stem}.png",
            "params": params,
            **result.as_json(),
        }
        (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1))
        print(json.dumps(record), flush=True)


def command_report(args: argparse.Namespace) -> None:
    from core import boxes
    from core.explain import method_named
    from core.report import check_trust, compare, render_report
    from core.scoring import load_model
    from core.trust.faithfulness import report_passes

    boxes.warm_up()  # compiles the box fit while the models load
    specs = [_resolve_model(name, args) for name in dict.fromkeys(args.model)]
    if len(specs) > 2:
        raise UserError("A report compares one or two models; give --model once or twice.")
    methods = [method_named(name).name for name in dict.fromkeys(args.method)]
    params = _params_per_method(methods, _parse_params(args.param))
    if not 0 < args.top_percent <= 100:
        raise UserError("--top-percent must be between 0 and 100.")
    if args.out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out should name an .html file, not {args.out.name}.")
    truths = _truths_for(args)
    images = [_read_image(path) for path in args.images]
    models = [load_model(spec) for spec in specs]

    def progress(done: int, total: int) -> None:
        print(f"explained {done} of {total} (model, method) pairs", file=sys.stderr, flush=True)

    comparison = compare(models, images, methods, params, args.top_percent, progress)
    if args.metrics:
        passes, maps = report_passes(0, args.steps), len(models) * len(methods) * len(images)
        counted = f"{maps} map{'s' if maps != 1 else ''}"
        print(f"trust checks: {counted}, {maps * passes:,} model passes in all ({passes:,} each)", file=sys.stderr)

        def checked(done: int, total: int) -> None:
            print(f"checked {done} of {total} maps", file=sys.stderr, flush=True)

        per_image = [_truth_of(truths, path, image.pixels) for path, image in zip(args.images, images, strict=True)]
        comparison = check_trust(comparison, models, per_image, steps=args.steps, substrate=args.substrate,
                                 progress=checked)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_report(comparison, shared=args.shared_scale), encoding="utf-8")
    args.out.with_suffix(".json").write_text(comparison.as_json(), encoding="utf-8")
    args.out.with_suffix(".csv").write_text(comparison.as_csv(), encoding="utf-8")
    print(json.dumps({"report": str(args.out), "json": str(args.out.with_suffix(".json")), "images": len(images)}))


def command_evaluate(args: argparse.Namespace) -> None:
    import tempfile
    import time

    from core.evaluation import bundled_set, evaluate, extract_zip, map_labels, read_set, score_set
    from core.evaluation.data import DataError, parse_map_options
    from core.evaluation.page import render_evaluation
    from core.scoring import load_model

    if args.metrics and not args.method:
        raise UserError("--metrics checks the maps of one method: add --method, e.g. --method saliency.")
    if args.method and not args.metrics:
        raise UserError("--method goes with --metrics: add --metrics to check that method's maps.")
    if args.metrics:
        from core.explain import method_named

        method_named(args.method)  # an unknown method is one sentence before any model runs
    specs = [_resolve_model(name, args) for name in dict.fromkeys(args.model)]
    if len(specs) > 2:
        raise UserError("An evaluation compares one or two models; give --model once or twice.")
    by_hand = parse_map_options(args.map)
    with tempfile.TemporaryDirectory(prefix="evaluation-set-") as scratch:
        if args.data is None:
            labelled = bundled_set()
        elif args.data.suffix.lower() == ".zip" and args.data.is_file():
            labelled = read_set(extract_zip(args.data, Path(scratch) / "set"), args.data.name)
        else:
            labelled = read_set(args.data)
        mappings = {}
        for spec in specs:
            mapping = map_labels(labelled.classes, spec.labels, spec.name, by_hand)
            if not mapping.complete:
                raise DataError(mapping.sentence(spec.labels))
            mappings[spec.name] = mapping
        models = [load_model(spec) for spec in specs]
        shown = [0.0]

        def progress(p) -> None:
            if time.perf_counter() - shown[0] > 2 or p.done == p.total:
                shown[0] = time.perf_counter()
                left = f", about {p.seconds_left:.0f} s left" if p.done < p.total else ""
                print(f"scored {p.done:,} of {p.total:,} images ({p.images_per_second:.0f} per second{left})",
                      file=sys.stderr, flush=True)  # fmt: skip

        scored = score_set(labelled, models, tta=args.tta, progress=progress)
        for name, reason in scored.unreadable:
            print(f"skipped {name}: {reason}", file=sys.stderr)
        evaluation = evaluate(scored, mappings)
        trust = None
        if args.metrics:
            from core.trust.summary import trust_over_set

            def checked(done: int, total: int) -> None:
                print(f"checked the maps of {done:,} of {total:,} images", file=sys.stderr, flush=True)

            trust = trust_over_set(models, labelled, args.method, count=args.images, steps=args.steps,
                                   substrate=args.substrate, progress=checked)  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        evaluation.predictions_frame().to_parquet(args.out / "predictions.parquet", index=False)
        metrics = evaluation.as_dict() | ({"trust": trust} if trust else {})
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
        (args.out / "evaluation.html").write_text(render_evaluation(evaluation, trust=trust), encoding="utf-8")
    summary = {
        "set": labelled.name,
        "images": len(evaluation.rows),
        "unreadable": len(scored.unreadable),
        "accuracy": {m.model: round(m.accuracy, 4) for m in evaluation.models},
        "out": str(args.out),
    }
    if evaluation.pair:
        summary["mcnemar_p"] = float(f"{evaluation.agreement.mcnemar_p:.3g}")  # 3 significant figures, never 0
    print(json.dumps(summary), flush=True)


def command_layers(args: argparse.Namespace) -> None:
    from core.inside.layers import spatial_layers
    from core.scoring import load_model

    model = load_model(_resolve_model(args.model, args))
    lines = [json.dumps(layer.as_json()) for layer in spatial_layers(model)]
    print("[\n " + ",\n ".join(lines) + "\n]")


def _save_png(pixels, path: Path) -> str:
    from PIL import Image

    Image.fromarray(pixels).save(path)
    return path.name


def command_visualise(args: argparse.Namespace) -> None:
    """`visualize class|features|filters|patches`: PNGs and a JSON record in --out, the record printed too."""
    import time

    from core.inside import pictures
    from core.inside.layers import default_layer, layer_named
    from core.scoring import load_model

    spec = _resolve_model(args.model, args)
    images = [_read_image(path) for path in args.images]  # a bad image fails before the model loads
    model = load_model(spec)
    model.require_gradients("Looking inside the model")
    stem = Path(spec.name).name.replace(" ", "-")
    if getattr(args, "count", 1) < 1:
        raise UserError("--count must be at least 1.")
    if args.what == "class":
        record = _class_model_files(model, args, stem)
    else:
        layer = args.layer or default_layer(model)
        layer_named(model, layer)  # one sentence naming the layers if it has no such layer
        args.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if args.what == "features":
            record = _feature_map_files(model, images, args, layer, stem, pictures)
        elif args.what == "filters":
            record = _filter_pattern_files(model, args, layer, stem, pictures)
        else:
            record = _patch_files(model, images, args, layer, stem, pictures)
        record["seconds"] = round(time.perf_counter() - started, 2)
    name = f"{stem}.{args.what}" + (f".{record['layer']}" if "layer" in record else "")
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(json.dumps(record), flush=True)


def _class_model_files(model, args: argparse.Namespace, stem: str) -> dict:
    import time

    from core.inside.class_model import PRESET_STEPS, class_model, reading, settings_in_words, target_index

    target_index(model, args.target)  # one sentence naming the classes
    steps = args.steps or PRESET_STEPS[args.preset]
    shown = [0.0]

    def progress(state) -> None:
        if time.perf_counter() - shown[0] > 5 or state.step == state.steps:
            shown[0] = time.perf_counter()
            print(f"step {state.step} of {state.steps}: score {state.objective[0]:.3f}", file=sys.stderr, flush=True)

    result = class_model(model, args.target, args.preset, steps, progress=progress)
    args.out.mkdir(parents=True, exist_ok=True)
    label = result.target.replace(" ", "-").replace("/", "-")
    picture = _save_png(result.pixels, args.out / f"{stem}.class.{label}.{args.preset}.png")
    record = {**result.as_json(), "image": picture, "settings": settings_in_words(args.preset)}
    return {**record, "reading": reading(result)}


def _feature_map_files(model, images, args, layer: str, stem: str, pictures) -> dict:
    from core.inside.features import feature_maps

    records = []
    for path, image in zip(args.images, images, strict=True):
        maps = feature_maps(model, image.pixels, layer)
        channels = maps.order if args.all else maps.order[: args.count]
        tiles = pictures.channel_tiles(maps.maps, channels, maps.limit, maps.signed)
        grid = pictures.grid(tiles, min(8, len(tiles)), [f"#{c}" for c in channels])
        picture = _save_png(grid, args.out / f"{Path(path).stem}.{stem}.features.{layer}.png")
        strongest = [{"channel": int(c), "mean_abs": round(float(maps.strength[c]), 5)} for c in channels]
        records.append({"image": path, "picture": picture, "limit": round(maps.limit, 5), "channels": strongest})
    return {"model": model.name, "layer": layer, "shape": list(maps.maps.shape), "images": records}


def _filter_pattern_files(model, args, layer: str, stem: str, pictures) -> dict:
    from core.inside.filters import filter_patterns

    patterns = filter_patterns(model, layer, count=args.count, steps=args.steps)
    tiles = [pictures.enlarged(p, 96) for p in patterns.pixels]
    grid = pictures.grid(tiles, min(8, len(tiles)), [f"#{f}" for f in patterns.filters])
    picture = _save_png(grid, args.out / f"{stem}.filters.{layer}.png")
    return {
        "model": model.name,
        "layer": layer,
        "picture": picture,
        "steps": patterns.steps,
        "filters": [{"filter": int(f), "mean_activation": round(float(a), 5)}
                    for f, a in zip(patterns.filters, patterns.activation, strict=True)],
    }  # fmt: skip


def _patch_files(model, images, args, layer: str, stem: str, pictures) -> dict:
    from core.inside.patches import exciting_patches

    patches, sized = exciting_patches(model, [image.pixels for image in images], layer, args.filter, count=args.count)
    crops = pictures.grid([pictures.enlarged(p.pixels, 96) for p in patches], len(patches),
                          [f"{p.activation:.3g}" for p in patches])  # fmt: skip
    picture = _save_png(crops, args.out / f"{stem}.patches.{layer}.{args.filter}.png")
    records = []
    for rank, patch in enumerate(patches, start=1):
        source = _save_png(pictures.with_box(sized[patch.image], patch.box),
                           args.out / f"{stem}.patches.{layer}.{args.filter}.{rank}.png")  # fmt: skip
        records.append({"rank": rank, "image": args.images[patch.image], "activation": round(patch.activation, 5),
                        "box": list(patch.box), "position": list(patch.position), "picture": source})  # fmt: skip
    return {"model": model.name, "layer": layer, "filter": args.filter, "picture": picture, "patches": records}


def command_batch(args: argparse.Namespace) -> None:
    import time

    from core.batch import Job, find_images, run_batch
    from core.batch.ray_engine import WorkerDied
    from core.evaluation.scoring import model_stamp
    from core.explain import method_named

    specs = [_resolve_model(name, args) for name in dict.fromkeys(args.model)]
    methods = [method_named(name).name for name in dict.fromkeys(args.method)]
    params = _params_per_method(methods, _parse_params(args.param))
    images = find_images(args.data)
    job = Job(
        tuple(specs),
        tuple(model_stamp(spec) for spec in specs),
        tuple(methods),
        params,
        out=str(args.out),
        metrics=args.metrics,
    )
    shown = [0.0]

    def progress(p) -> None:
        if time.perf_counter() - shown[0] > 2 or p.done == p.total:
            shown[0] = time.perf_counter()
            print(p.sentence(), file=sys.stderr, flush=True)

    try:
        summary = run_batch(
            job,
            images,
            engine=args.engine,
            address=args.address,
            workers=args.workers,
            data=str(args.data),
            progress=progress,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: the rows that finished are in {args.out / 'explanations.parquet'}; run the same command "
            "again to compute the rest.",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except WorkerDied as error:
        print(
            f"interrupted: {error}; the rows that finished are in {args.out / 'explanations.parquet'}; run the same "
            "command again to compute the rest.",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    print(json.dumps(summary.as_json()), flush=True)


def _params_per_method(methods: list[str], texts: dict[str, str]) -> dict:
    """Each --param goes to every chosen method that has it, converted and checked by that method; one no
    method has is an error."""
    from core.explain import METHODS

    unused = [key for key in texts if not any(key in METHODS[m].defaults for m in methods)]
    if unused:
        known = sorted({key for m in methods for key in METHODS[m].defaults})
        raise UserError(f"No chosen method has the parameter '{unused[0]}' (they have: {', '.join(known) or 'none'}).")
    return {m: METHODS[m].parse({k: v for k, v in texts.items() if k in METHODS[m].defaults}) for m in methods}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose --help can end with every method and its parameters, read from the registry
    only when help is asked for (importing the methods takes longer than most commands)."""

    def __init__(self, *args, methods_help: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.methods_help = methods_help

    def format_help(self) -> str:
        return super().format_help() + (f"\n{methods_help()}" if self.methods_help else "")


def methods_help() -> str:
    """Every registered method with its family and cost, and each parameter with its default, help and
    allowed values: the end of `explain --help` and `report --help`."""
    import shutil
    import textwrap

    from core.explain import METHODS

    width = min(100, shutil.get_terminal_size().columns - 2)
    lines = ["methods (--method) and their parameters (--param KEY=VALUE); `methods` prints them as JSON:"]
    for method in METHODS.values():
        cost = method.passes(method.defaults)
        lines.append(f"  {method.name}: {method.title}; {method.family}; {cost} forward passes per image")
        for parameter in method.parameters:
            default = "none" if parameter.default is None else parameter.default
            text = f"{parameter.name}={default}: {parameter.help} Allowed: {parameter.allowed}."
            lines.append(textwrap.fill(text, width, initial_indent=" " * 4, subsequent_indent=" " * 6))
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from core.familiarity import FIT_COUNT

    parser = _Parser(prog="python -m core", description="Classify and explain images.")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list the known models and whether each is ready")
    models.set_defaults(run=command_models)
    methods = commands.add_parser(
        "methods", help="print every explanation method, its parameters and its cost as one JSON list"
    )
    methods.set_defaults(run=command_methods)
    classify = commands.add_parser("classify", help="print one JSON line per (image, model)")
    classify.add_argument(
        "--model", action="append", required=True, help="model name or model file/folder (repeat for several)"
    )
    _add_model_options(classify)
    classify.add_argument("--top", type=int, default=5, help="number of classes to show (1-5)")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.set_defaults(run=command_classify)
    explain = commands.add_parser(
        "explain", help="write an overlay PNG, the raw map (.npy) and a JSON record", methods_help=True
    )
    explain.add_argument("--model", required=True, help="model name or model file/folder")
    _add_model_options(explain)
    explain.add_argument("--method", required=True, help="method name (the methods are listed below)")
    explain.add_argument("--target", help="class label to explain (default: the predicted class)")
    _add_param_option(explain, "method parameter, e.g. num_samples=200 (repeatable; each method's are listed below)")
    explain.add_argument("--tol", type=float, default=0.9, help="share of saliency mass the box keeps per side")
    _add_metric_options(explain)
    explain.add_argument("--out", type=Path, required=True, help="folder for the results")
    explain.add_argument("images", nargs="+", metavar="IMAGE")
    explain.set_defaults(run=command_explain)
    sanity = commands.add_parser(
        "sanity",
        help="randomise the model's weights layer by layer from the top and see whether the map changes: a strip of "
        "maps (PNG) and a JSON record per image, with an edge detector as a control (docs/methods.md#sanity-check)",
        methods_help=True,
    )
    sanity.add_argument("--model", required=True, help="model name or Keras model file")
    _add_model_options(sanity)
    sanity.add_argument("--method", required=True, help="method name (the methods are listed below)")
    sanity.add_argument("--target", help="class label to explain (default: the predicted class)")
    _add_param_option(sanity, "method parameter (repeatable)")
    sanity.add_argument(
        "--steps", type=int, default=10, help="groups of layers randomised in turn, the top layer first (default 10)"
    )
    sanity.add_argument("--out", type=Path, required=True, help="folder for the strips and records")
    sanity.add_argument("images", nargs="+", metavar="IMAGE")
    sanity.set_defaults(run=command_sanity)
    report = commands.add_parser(
        "report",
        help="write one self-contained HTML report (and its numbers as .json and .csv) for images",
        methods_help=True,
    )
    report.add_argument(
        "--model", action="append", required=True, help="model name or model file/folder (once or twice)"
    )
    _add_model_options(report)
    report.add_argument(
        "--method", action="append", required=True, help="method name (repeatable; the methods are listed below)"
    )
    _add_param_option(report, "parameter for the chosen methods that have it (repeatable; listed below)")
    report.add_argument("--top-percent", type=float, default=10.0, help="k of the top-k%% region agreement")
    report.add_argument(
        "--shared-scale",
        action="store_true",
        help="one colour scale for the maps of each image, for like-for-like comparisons (default: one per map)",
    )
    _add_metric_options(report)
    report.add_argument("--out", type=Path, required=True, help="the report's path, e.g. report.html")
    report.add_argument("images", nargs="+", metavar="IMAGE")
    report.set_defaults(run=command_report)
    evaluate = commands.add_parser(
        "evaluate",
        help="score one or two models on a labelled image set; write predictions.parquet, metrics.json and "
        "evaluation.html",
    )
    evaluate.add_argument(
        "--model", action="append", required=True, help="model name or model file/folder (once or twice)"
    )
    _add_model_options(evaluate)
    evaluate.add_argument(
        "--data",
        type=Path,
        help="a folder with one subfolder per class, a CSV (file,label[,x0,y0,x1,y1]), a folder with annotations.json, "
        "or a zip of one of these (default: the bundled set of 200 generated dogs no model saw)",
    )
    evaluate.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=LABEL",
        help="the set's class NAME means the model's LABEL (repeatable); others match by name, ignoring case, "
        "spaces and underscores",
    )
    evaluate.add_argument(
        "--tta",
        choices=("none", "flip", "flip+shift"),
        default="none",
        help="test-time augmentation: average over the image and its mirror (flip), and four small shifts",
    )
    evaluate.add_argument("--out", type=Path, required=True, help="folder for the three files")
    trust = evaluate.add_argument_group("does it look at the right thing (docs/methods.md#can-a-map-be-trusted)")
    trust.add_argument("--method", help="with --metrics: the method whose maps are checked (e.g. saliency)")
    trust.add_argument(
        "--metrics",
        action="store_true",
        help="check --method's maps on --images images spread over the set: mean deletion and insertion beside "
        "random maps and a blob, pointing game, energy in the box and share on the dog beside their chance levels",
    )
    trust.add_argument("--images", type=int, default=20, help="with --metrics: how many images (default 20)")
    from core.trust.faithfulness import DEFAULT_STEPS, SUBSTRATES

    trust.add_argument(
        "--substrate", choices=SUBSTRATES, default="blur", help="what removed pixels become (default blur)"
    )
    trust.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps of deletion and insertion (default 20)")
    evaluate.set_defaults(run=command_evaluate)
    batch = commands.add_parser(
        "batch",
        help="explain a whole collection with each model and method into explanations.parquet, maps and overlays "
        "(resumable: a rerun computes only what is missing or failed)",
        methods_help=True,
    )
    batch.add_argument("--model", action="append", required=True, help="model name or file/folder (repeatable)")
    _add_model_options(batch)
    batch.add_argument("--method", action="append", required=True, help="method name (repeatable; listed below)")
    _add_param_option(batch, "parameter for the chosen methods that have it (repeatable; listed below)")
    batch.add_argument(
        "--data",
        required=True,
        help="a folder (every image under it), a CSV (file,label) or annotations.json (true labels from it), or a "
        "glob such as 'photos/**/*.jpg' (quote it)",
    )
    batch.add_argument(
        "--metrics", action="store_true", help="add the trust metrics (deletion, insertion, localisation) per row"
    )
    batch.add_argument("--out", type=Path, required=True, help="folder for explanations.parquet, maps/, overlays/")
    batch.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or Ray Data")
    batch.add_argument(
        "--address",
        help="with --engine ray: an existing cluster ('auto', or ray://HOST:PORT); without it, Ray starts on this "
        "machine",
    )
    batch.add_argument(
        "--workers",
        type=int,
        help="Ray workers, each loading every model once (default: one per GPU, else one per node); for the local "
        "engine, the decoding threads",
    )
    batch.set_defaults(run=command_batch)
    download = commands.add_parser("download", help="download the ImageNet weights of resnet50v2 or efficientnetb1")
    download.add_argument("--model", required=True, help="resnet50v2 or efficientnetb1")
    download.set_defaults(run=command_download)
    quantise = commands.add_parser(
        "quantize", help="convert a Keras model to float16 TFLite and compare it with the original (JSON)"
    )
    quantise.add_argument("--model", required=True, help="model name or model file/folder")
    _add_model_options(quantise)
    quantise.add_argument("--out", type=Path, required=True, help="the .tflite file to write (a card .json beside it)")
    quantise.add_argument(
        "images", nargs="*", metavar="IMAGE", help="images to compare the two models on (default: the sample images)"
    )
    quantise.set_defaults(run=command_quantise)
    calibrate = commands.add_parser(
        "calibrate",
        help="measure a model's usual confidence on generated dog pictures, the floor below which an image is "
        "flagged as unusual, and the usual distance of their features from those it learned from, the ceiling "
        "beyond which it is (docs/methods.md#unfamiliar-images)",
    )
    calibrate.add_argument("--model", required=True, help="model name or model file/folder")
    _add_model_options(calibrate)
    calibrate.add_argument("--seed", type=int, default=2, help="generated set (the bundled models were validated on 2)")
    calibrate.add_argument("--count", type=int, default=1000, help="number of generated pictures")
    calibrate.add_argument(
        "--fit-seed", type=int, default=1, help="generated set of the feature means (the bundled models learned from 1)"
    )
    calibrate.add_argument(
        "--fit-count", type=int, default=FIT_COUNT, help="pictures the feature means and covariance come from (0: none)"
    )
    calibrate.add_argument(
        "--write", action="store_true", help="write the result into the model's card, the features beside it"
    )
    calibrate.set_defaults(run=command_calibrate)
    layers = commands.add_parser("layers", help="print the layers the inside-the-model pages offer, as JSON")
    layers.add_argument("--model", required=True, help="model name or model file/folder")
    _add_model_options(layers)
    layers.set_defaults(run=command_layers)
    visualise = commands.add_parser(
        "visualize",
        help="look inside a model: its class model, feature maps, filter patterns or the patches that excite a "
        "filter (PNGs and a JSON record in --out)",
    )
    kinds = visualise.add_subparsers(dest="what", required=True)
    from core.inside.class_model import PRESETS

    helps = {
        "class": "the image the model takes to be most like a class (gradient ascent on its score)",
        "features": "each channel's activation of a layer for each image, strongest first, on one colour scale",
        "filters": "for each filter of a layer, the input that excites it most (gradient ascent)",
        "patches": "the image patches (receptive fields) where a filter is most active",
    }
    for what, text in helps.items():
        kind = kinds.add_parser(what, help=text)
        kind.add_argument("--model", required=True, help="model name or model file/folder")
        _add_model_options(kind)
        if what == "class":
            kind.add_argument("--target", required=True, help="the class label to draw")
            kind.add_argument("--preset", choices=list(PRESETS), default="regularised",
                              help="seed (Simonyan et al. 2014; BatchNorm in training mode), seed-frozen (the same, "
                              "BatchNorm in inference, as the seed's frozen network ran it) or regularised "
                              "(docs/methods.md)")  # fmt: skip
            kind.add_argument("--steps", type=int, help="ascent steps (default 3000 for the seed presets, 512 for "
                              "regularised)")  # fmt: skip
        else:
            kind.add_argument("--layer", required=what != "features",
                              help="layer name (python -m core layers lists them)"
                              + ("; default: the last convolutional stage" if what == "features" else ""))  # fmt: skip
        if what in ("features", "filters", "patches"):
            default = 8 if what == "patches" else 16
            kind.add_argument("--count", type=int, default=default,
                              help=f"{'channels (strongest first)' if what == 'features' else what} to show "
                              f"(default {default})")  # fmt: skip
        if what == "features":
            kind.add_argument("--all", action="store_true", help="show every channel")
        if what == "filters":
            kind.add_argument("--steps", type=int, default=48, help="ascent steps per filter (default 48)")
        if what == "patches":
            kind.add_argument("--filter", type=int, required=True, help="the filter's number in the layer")
        kind.add_argument("--out", type=Path, required=True, help="folder for the PNGs and the JSON record")
        if what in ("features", "patches"):
            kind.add_argument("images", nargs="+", metavar="IMAGE")
        kind.set_defaults(run=command_visualise, **({} if what in ("features", "patches") else {"images": []}))
    return parser


def _add_param_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help=help)


def _add_metric_options(parser: argparse.ArgumentParser) -> None:
    from core.trust.faithfulness import DEFAULT_STEPS, SUBSTRATES

    group = parser.add_argument_group("can the map be trusted (docs/methods.md#can-a-map-be-trusted)")
    group.add_argument(
        "--metrics",
        action="store_true",
        help="add each map's deletion and insertion (faithfulness), beside random maps and a centred blob",
    )
    group.add_argument(
        "--truth",
        type=Path,
        metavar="ANNOTATIONS",
        help="with --metrics: an annotations.json (python -m core.dataset writes one; or a list of "
        '{"file", "box"}) to add localisation: pointing game, energy in the box, box IoU, parts',
    )
    group.add_argument(
        "--substrate", choices=SUBSTRATES, default="blur", help="what removed pixels become (default blur)"
    )
    group.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps of deletion and insertion (default 20)")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from core.preprocessing import names
    from core.spec import COLOUR_MODES, OUTPUT_KINDS

    group = parser.add_argument_group(
        "for a model given as a file (else read from the card beside it, then guessed from the model)"
    )
    group.add_argument("--labels", metavar="FILE_OR_LIST", help="labels file (.txt, .json) or a comma-separated list")
    group.add_argument(
        "--preprocess",
        metavar="PRESET",
        help=f"one of {', '.join(names())}, or scale=S,offset=O for x*S+O on 0-255 pixels (default raw)",
    )
    group.add_argument("--color", choices=COLOUR_MODES, help="colour mode (default: from the model's input)")
    group.add_argument("--output", choices=OUTPUT_KINDS, help="what the model outputs (default: guessed)")
    group.add_argument(
        "--trusted",
        action="store_true",
        help="load Lambda layers, code from outside Keras and SavedModel operations beyond pure computation "
        "(see docs/model-safety.md): only for files whose author you trust",
    )


def main(argv: list[str] | None = None) -> int:
    import core

    core.quiet_tensorflow()  # before any command imports TensorFlow
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
