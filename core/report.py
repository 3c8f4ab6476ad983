"""Two models (or one) explaining the same images with the same methods, and the HTML report of it.

`compare` runs everything for the command line; the dashboard builds the same `Comparison` from its
cache. `render_report` turns a comparison into one self-contained HTML file: every picture is
embedded as a data URI, the style is inline, nothing is fetched, and it prints cleanly to PDF.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from core.agreement import EXPLANATIONS, Agreement, agreement, mean_agreement
from core.classify import Prediction, classify
from core.explain import METHODS, Explanation, explain_images, method_params
from core.images import DecodedImage
from core.models import LoadedModel, ModelSpec
from core.render import PER_IMAGE, PER_MAP, colour_limits, display_size, explanation_picture

REPORT_SIDE = 360  # pixels of the longest side of each picture in the report: sharp in print, small files
CARD_FIELDS = (
    ("architecture", "Architecture"),
    ("format", "File format"),
    ("parameters", "Parameters"),
    ("input_size", "Input size"),
    ("preprocessing", "Preprocessing"),
    ("output", "Output"),
    ("validation_accuracy", "Validation accuracy"),
    ("validation_images", "Validation images"),
    ("training_images", "Training images"),
    ("epochs", "Epochs"),
    ("trained_on", "Trained on"),
)


@dataclass(frozen=True)
class Comparison:
    """Everything a report shows: per model its predictions, per (model, method) its explanations, one per image."""

    images: tuple[DecodedImage, ...]
    models: tuple[ModelSpec, ...]
    methods: tuple[str, ...]
    params: dict  # method -> parameters used
    predictions: dict  # model name -> [[Prediction, ...] per image]
    explanations: dict  # (model name, method) -> [Explanation per image]
    percent: float = 10.0  # k of the top-k% region agreement
    true_labels: tuple = ()  # per image, None where unknown (empty: none known)
    true_boxes: tuple = ()
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def pair(self) -> bool:
        return len(self.models) == 2

    def maps(self, method: str) -> dict[tuple[str, int], np.ndarray]:
        """Every raw map of `method`, keyed by (model name, image index), as `colour_limits` takes them."""
        return {
            (spec.name, i): result.map
            for spec in self.models
            for i, result in enumerate(self.explanations[(spec.name, method)])
        }

    def agreements(self, method: str) -> list[Agreement]:
        """Per image, how much model A's and model B's explanations agree (empty for one model)."""
        return self._agreements[method]

    @cached_property
    def _agreements(self) -> dict[str, list[Agreement]]:
        if not self.pair:
            return {method: [] for method in self.methods}
        a, b = (spec.name for spec in self.models)
        return {
            method: [
                agreement(
                    first.map,
                    second.map,
                    first.fit.box,
                    second.fit.box,
                    self.predictions[a][i][0].label,
                    self.predictions[b][i][0].label,
                    self.percent,
                )
                for i, (first, second) in enumerate(
                    zip(self.explanations[(a, method)], self.explanations[(b, method)], strict=True)
                )
            ]
            for method in self.methods
        }

    def records(self) -> list[dict]:
        """The numbers, one flat row per (image, method): for JSON and CSV downloads."""
        rows = []
        for method in self.methods:
            scores = self.agreements(method)
            for i, image in enumerate(self.images):
                row = {"image": image.name, "sha256": image.sha256, "method": method}
                for letter, spec in zip("ab", self.models, strict=False):
                    top = self.predictions[spec.name][i][0]
                    result = self.explanations[(spec.name, method)][i]
                    row |= {
                        f"model_{letter}": spec.name,
                        f"prediction_{letter}": top.label,
                        f"probability_{letter}": round(top.probability, 6),
                        f"target_{letter}": result.target_label,
                        f"box_{letter}": [round(v, 1) for v in result.fit.box],
                        f"seconds_{letter}": round(result.seconds, 4),
                    }
                if scores:
                    score = scores[i]
                    row |= {
                        "rank_correlation": round(score.rank_correlation, 4),
                        f"top_{score.top_percent:g}_percent_iou": round(score.top_iou, 4),
                        "box_iou": round(score.box_iou, 4),
                        "same_prediction": score.same_prediction,
                    }
                rows.append(row)
        return rows

    def as_json(self) -> str:
        summary = {method: mean_agreement(self.agreements(method)) for method in self.methods} if self.pair else {}
        return json.dumps(
            {
                "created": self.created.isoformat(timespec="seconds"),
                "models": [spec.name for spec in self.models],
                "methods": list(self.methods),
                "params": {method: _plain(self.params[method]) for method in self.methods},
                "top_percent": self.percent,
                "mean_agreement": summary,
                "rows": self.records(),
            },
            indent=1,
        )

    def as_csv(self) -> str:
        rows = self.records()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: " ".join(map(str, v)) if isinstance(v, list) else v for key, v in row.items()})
        return buffer.getvalue()


def compare(
    models: list[LoadedModel],
    images: list[DecodedImage],
    methods: list[str],
    params: dict | None = None,
    percent: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Predictions and explanations of every model for every image and method (each explaining its own
    predicted class), all models on the same inputs with the same parameters."""
    params = params or {}
    chosen = {method: method_params(METHODS[method], params.get(method)) for method in methods}
    pixels = [image.pixels for image in images]
    predictions, explanations = {}, {}
    total, done = len(models) * len(methods), 0
    for model in models:
        predictions[model.name] = classify(model, pixels, 3)
        for method in methods:
            explanations[(model.name, method)] = explain_images(model, pixels, method, None, chosen[method])
            done += 1
            if progress is not None:
                progress(done, total)
    return Comparison(
        tuple(images), tuple(m.spec for m in models), tuple(methods), chosen, predictions, explanations, percent
    )


def render_report(
    comparison: Comparison,
    *,
    shared: bool = True,
    opacity: float = 0.6,
    title: str = "Why the classifiers decided",
) -> str:
    """One HTML page, self-contained (pictures as data URIs, inline style, no scripts, no links)."""
    c = comparison
    model_names = [spec.name for spec in c.models]
    parts = [
        f"<header><h1>{_text(title)}</h1>",
        f"<p class='meta'>{c.created.strftime('%Y-%m-%d %H:%M UTC')} · {len(c.images)} image"
        f"{'s' if len(c.images) != 1 else ''} · models: {_text(' vs '.join(model_names))} · methods: "
        f"{_text(', '.join(METHODS[m].title for m in c.methods))}</p></header>",
    ]
    if c.pair:
        parts.append(_summary(c))
    scale = PER_IMAGE if shared else PER_MAP
    limits = {method: colour_limits(c.maps(method), METHODS[method].signed, scale) for method in c.methods}
    for i, image in enumerate(c.images):
        parts.append(_image_section(c, i, image, limits, opacity))
    parts.append(_models_section(c))
    parts.append(_parameters_section(c, shared))
    return _PAGE.format(title=_text(title), body="\n".join(parts))


def _summary(c: Comparison) -> str:
    a, b = (spec.name for spec in c.models)
    rows = []
    for method in c.methods:
        means = mean_agreement(c.agreements(method))
        rows.append(
            f"<tr><th>{_text(METHODS[method].title)}</th><td>{means['rank_correlation']:+.2f}</td>"
            f"<td>{means['top_iou']:.2f}</td><td>{means['box_iou']:.2f}</td>"
            f"<td>{means['same_prediction']:.0%}</td></tr>"
        )
    return (
        f"<section class='summary'><h2>Do {_text(a)} and {_text(b)} look at the same thing?</h2>"
        f"<p>Means over {len(c.images)} image{'s' if len(c.images) != 1 else ''}.</p>"
        "<table><thead><tr><th>Method</th><th>Rank correlation</th>"
        f"<th>Top {c.percent:g}% IoU</th><th>Box IoU</th><th>Same prediction</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{_score_legend(c.percent)}</section>"
    )


def _score_legend(percent: float) -> str:
    items = "".join(
        f"<li><b>{label}</b>: {_text(EXPLANATIONS[key].format(k=f'{percent:g}'))}</li>"
        for key, label in (
            ("rank_correlation", "Rank correlation"),
            ("top_iou", f"Top {percent:g}% IoU"),
            ("box_iou", "Box IoU"),
            ("same_prediction", "Same prediction"),
        )
    )
    return f"<ul class='legend'>{items}</ul>"


def _image_section(c: Comparison, i: int, image: DecodedImage, limits: dict, opacity: float) -> str:
    """One image: the picture, every model's predictions, then per method each model's overlay (colour limits
    from `limits[method][(model, i)]`) and how much they agree."""
    truth = c.true_labels[i] if i < len(c.true_labels) else None
    true_box = c.true_boxes[i] if i < len(c.true_boxes) else None
    predictions = "".join(
        f"<div class='prediction'><h4>{_text(spec.name)}</h4>{_predictions(c.predictions[spec.name][i])}</div>"
        for spec in c.models
    )
    rows = []
    for method in c.methods:
        chosen = METHODS[method]
        figures = []
        for spec in c.models:
            result: Explanation = c.explanations[(spec.name, method)][i]
            limit = limits[method][(spec.name, i)]
            picture = explanation_picture(
                image.pixels, result.map, result.fit, limit, chosen.signed,
                opacity=opacity, colourmap=chosen.colourmap, side=REPORT_SIDE, true_box=true_box,
            )  # fmt: skip
            figures.append(
                f"<figure>{_picture(picture, f'{spec.name} {method}')}<figcaption>{_text(spec.name)} · explaining "
                f"“{_text(result.target_label)}” · colour limit {limit:.3g}</figcaption></figure>"
            )
        scores = ""
        if c.pair:
            s = c.agreements(method)[i]
            scores = (
                f"<p class='scores'>Rank correlation <b>{s.rank_correlation:+.2f}</b> · top {s.top_percent:g}% IoU "
                f"<b>{s.top_iou:.2f}</b> · box IoU <b>{s.box_iou:.2f}</b> · predictions "
                f"<b>{'agree' if s.same_prediction else 'differ'}</b></p>"
            )
        rows.append(
            f"<div class='method'><h3>{_text(chosen.title)}</h3>"
            f"<p class='caption'>{_text(chosen.caption)} Colours: {_text(chosen.legend)}</p>"
            f"<div class='figures'>{''.join(figures)}</div>{scores}</div>"
        )
    original = _picture(display_size(image.pixels, REPORT_SIDE), image.name)
    return (
        f"<section class='image'><h2>{_text(image.name)}"
        + (f" <span class='truth'>true class: {_text(truth)}</span>" if truth else "")
        + f"</h2><div class='top'><figure>{original}<figcaption>the image, {image.width}×{image.height}"
        + (" · dashed green: the true box" if true_box is not None else "")
        + f"</figcaption></figure><div class='predictions'>{predictions}</div></div>{''.join(rows)}</section>"
    )


def _predictions(predictions: list[Prediction]) -> str:
    rows = "".join(
        f"<tr{' class=winner' if k == 0 else ''}><td>{_text(p.label)}</td><td><span class='bar' "
        f"style='width:{p.probability * 100:.1f}%'></span></td><td>{p.probability:.1%}</td></tr>"
        for k, p in enumerate(predictions)
    )
    return f"<table class='bars'>{rows}</table>"


def _models_section(c: Comparison) -> str:
    cards = []
    for spec in c.models:
        card = spec.card or {}
        facts = [(label, card.get(key)) for key, label in CARD_FIELDS]
        facts = [(label, value) for label, value in facts if value not in (None, "")]
        if not any(label == "Input size" for label, _ in facts):
            facts.insert(0, ("Input size", list(spec.input_size)))
        labels = ", ".join(spec.labels[:10]) + (f" … ({len(spec.labels)} classes)" if len(spec.labels) > 10 else "")
        facts.append(("Classes", labels))
        if card.get("guessed"):  # a user's model: what the file did not say and the app assumed
            facts.append(("Assumed, not given", ", ".join(card["guessed"])))
        rows = "".join(f"<tr><th>{_text(label)}</th><td>{_text(_fact(value))}</td></tr>" for label, value in facts)
        cards.append(f"<div class='card'><h3>{_text(spec.name)}</h3><table>{rows}</table></div>")
    return f"<section class='models'><h2>Model cards</h2><div class='cards'>{''.join(cards)}</div></section>"


def _parameters_section(c: Comparison, shared: bool) -> str:
    rows = "".join(
        f"<tr><th>{_text(METHODS[m].title)}</th><td>"
        + (_text(", ".join(f"{k} = {'automatic' if v is None else v}" for k, v in c.params[m].items())) or "none")
        + "</td></tr>"
        for m in c.methods
    )
    notes = [
        "Each model explains the class it predicts, from the score before its final sigmoid or softmax.",
        "Boxes (cyan) are fitted to 90% of each map's mass (seed 000 §5.2); the red dot is the map's centroid.",
        "Colour scale: " + ("shared by the two maps of each pair." if shared else "one per map."),
    ]
    if c.pair:
        notes.append(f"Top-region agreement uses the {c.percent:g}% strongest pixels of each map.")
    return (
        f"<section class='parameters'><h2>Parameters</h2><table>{rows}</table>"
        f"<ul>{''.join(f'<li>{_text(n)}</li>' for n in notes)}</ul></section>"
    )


def _picture(pixels: np.ndarray, alt: str) -> str:
    """An embedded JPEG (a fifth of a PNG's size for photos and smooth maps; lines stay crisp at quality 90)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(buffer, "JPEG", quality=90, subsampling=0)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_text(alt)}' src='data:image/jpeg;base64,{encoded}'>"


def _fact(value) -> str:
    if isinstance(value, float) and value <= 1:
        return f"{value:.1%}"
    if isinstance(value, int) and value > 999:
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return "×".join(map(str, value))
    return str(value)


def _text(value) -> str:
    """Escaped for HTML: image names come from users."""
    return html.escape(str(value), quote=True)


def _plain(params: dict) -> dict:
    return {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in params.items()}


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #e4572e; }}
* {{ box-sizing: border-box; }}
body {{ font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1120px; padding: 28px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
h1 {{ font-size: 28px; margin: 0 0 4px; }}
h2 {{ font-size: 20px; margin: 0 0 12px; }}
h3 {{ font-size: 16px; margin: 14px 0 2px; }}
h4 {{ font-size: 14px; margin: 0 0 4px; }}
.meta, .caption, figcaption, .legend {{ color: var(--muted); font-size: 13px; }}
section {{ border-top: 1px solid var(--line); padding: 18px 0; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }}
.summary td, .summary thead th {{ text-align: right; padding-left: 14px; }}
.summary tbody th {{ font-weight: 600; }}
.truth {{ font-weight: normal; color: var(--muted); font-size: 15px; }}
.top {{ display: flex; gap: 28px; align-items: flex-start; flex-wrap: wrap; }}
.predictions {{ display: flex; gap: 28px; flex-wrap: wrap; flex: 1 1 420px; }}
.predictions table {{ width: 300px; }}
.bars td {{ font-size: 13px; }}
.bars td:nth-child(2) {{ width: 120px; }}
.bar {{ display: inline-block; height: 10px; background: #9aa5b1; border-radius: 2px; }}
.bars tr.winner .bar {{ background: var(--accent); }}
.bars tr.winner td {{ font-weight: 600; }}
.figures {{ display: flex; gap: 18px; flex-wrap: wrap; }}
figure {{ margin: 6px 0; }}
img {{ display: block; max-width: 100%; width: 360px; height: auto; border-radius: 4px; }}
.top img {{ width: 240px; }}
.scores {{ margin: 4px 0 0; font-size: 14px; }}
.cards {{ display: flex; gap: 36px; flex-wrap: wrap; }}
.card {{ flex: 1 1 340px; }}
.card th {{ color: var(--muted); font-weight: normal; }}
@page {{ size: A4; margin: 12mm; }}
@media print {{
  body {{ padding: 0; max-width: none; font-size: 12px; }}
  section.image, .method, .card, .summary {{ break-inside: avoid; page-break-inside: avoid; }}
  img {{ width: 300px; }}
  .top img {{ width: 200px; }}
}}
</style>
</head>
<body>
{body}
<footer class="meta">Made by the classifier-explanations dashboard; every picture is embedded in this file.</footer>
</body>
</html>
"""
