"""The evaluation as one self-contained HTML page (evaluation.html): every number with its reference and how to
read it, the confusion matrices, reliability diagrams and coverage curves drawn as inline SVG, and the galleries'
pictures embedded. No scripts, no links, nothing fetched; it prints to PDF."""

from __future__ import annotations

import base64
import functools
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.classify import probability_text
from core.errors import UserError
from core.evaluation import words
from core.evaluation.data import load_image
from core.evaluation.results import GALLERY_SIZE, Evaluation, ModelEvaluation
from core.html_parts import axes, document, figure, trust_means_table

THUMBNAIL_SIDE = 112
COLOURS = ("#e4572e", "#2e86ab")  # model A, model B
TARGET_ACCURACY = 0.99
THRESHOLD = 0.9


def render_evaluation(
    evaluation: Evaluation, *, title: str = "How well the classifiers do", trust: dict | None = None
) -> str:
    """The self-contained HTML page of an evaluation; with `trust` (core.trust.summary.trust_over_set), a section on
    whether each model's maps look at the right thing."""
    e = evaluation
    labelled = e.scored.labelled
    tta = e.models[0].tta
    parts = [
        f"<header><h1>{_text(title)}</h1><p class='meta'>{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} · set: "
        f"{_text(labelled.name)} ({len(e.rows):,} images; classes {_text(', '.join(labelled.classes))}) · models: "
        f"{_text(' vs '.join(e.names))}"
        + (f" · test-time augmentation: {_text(tta)}" if tta != "none" else "")
        + "</p>",
    ]
    problems = []
    if e.scored.unreadable:
        problems.append(f"{len(e.scored.unreadable):,} image{'s' if len(e.scored.unreadable) != 1 else ''} could not "
                        "be read and were skipped (listed at the end).")  # fmt: skip
    if e.left_out:
        problems.append(f"{e.left_out:,} images of classes mapped to no label were left out.")
    parts += [f"<p class='warning'>{_text(p)}</p>" for p in problems]
    parts.append("</header>")
    if e.pair:
        parts.append(_pair_section(e))
    for index, m in enumerate(e.models):
        parts.append(_model_section(e, m, COLOURS[index]))
    if e.pair:
        parts.append(_gallery(e, "Where the two models disagree", "Images on which they name different classes; those "
                              "only one of them gets right first.", e.disagreements(), e.models))  # fmt: skip
    if trust:
        parts.append(_trust_section(trust))
    parts.append(_mapping_section(e))
    if e.scored.unreadable:
        rows = "".join(f"<li><b>{_text(n)}</b>: {_text(r)}</li>" for n, r in e.scored.unreadable[:200])
        parts.append(f"<section><h2>Images that could not be read</h2><ul>{rows}</ul></section>")
    return document(title, _style(), "\n".join(parts), " (python -m core evaluate)")


def _readings(readings: list[words.Reading]) -> str:
    rows = "".join(
        f"<tr><th>{_text(r.name)}</th><td class='value'>{_text(r.value)}</td><td><span class='reference'>"
        f"{_text(r.reference)}</span><br>{_text(r.sentence)}</td></tr>"
        for r in readings
        if r is not None
    )
    return f"<table class='readings'>{rows}</table>"


def _pair_section(e: Evaluation) -> str:
    a, b = e.names
    t = e.agreement
    table = (
        f"<table class='matrix agreement'><tr><th></th><th>{_text(b)} right</th><th>{_text(b)} wrong</th></tr>"
        f"<tr><th>{_text(a)} right</th><td>{t.both_right:,}</td><td class='only'>{t.only_a:,}</td></tr>"
        f"<tr><th>{_text(a)} wrong</th><td class='only'>{t.only_b:,}</td><td>{t.both_wrong:,}</td></tr></table>"
    )
    return (
        f"<section><h2>{_text(a)} or {_text(b)}?</h2>{_readings([words.comparison(e)])}"
        f"<div class='figures'>{table}{_coverage_svg(e.models)}</div>"
        "<p class='caption'>The shaded cells are the images only one model gets right: McNemar's test compares "
        "those two counts. The curve shows, for each model, how accurate its kept answers are as the least "
        "confident ones are withheld.</p></section>"
    )


def _model_section(e: Evaluation, m: ModelEvaluation, colour: str) -> str:
    readings = [
        words.accuracy(m),
        words.calibration(m),
        words.ranking(m),
        words.withholding(m, THRESHOLD),
        words.target(m, TARGET_ACCURACY),
        words.tta(m),
    ]
    per_class = "".join(
        f"<tr><th>{_text(label)}</th><td>{s.precision:.3f}</td><td>{s.recall:.3f}</td><td>{s.f1:.3f}</td>"
        f"<td>{s.support:,}</td></tr>"
        for label, s in m.per_class.items()
    )
    per_class_table = (
        "<table class='numbers'><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>"
        f"{per_class}</table><p class='caption'>Precision: of the images the model calls this class, the share that "
        "are. Recall: of the images of this class, the share it finds. F1 is their harmonic mean.</p>"
    )
    galleries = "".join(
        _gallery(e, title, note, getattr(m, key)(), [m]) for key, (title, note) in words.GALLERIES.items()
    )
    return (
        f"<section class='model'><h2 style='border-color:{colour}'>{_text(m.model)}</h2>{_readings(readings)}"
        f"<div class='figures'><div>{_confusion_table(m)}</div><div>{per_class_table}</div></div>"
        f"<div class='figures'>{_reliability_svg(m, colour)}{_coverage_svg([m])}</div>{galleries}</section>"
    )


def _confusion_table(m: ModelEvaluation) -> str:
    labels = [m.labels[k] for k in m.shown_classes]
    if len(labels) > 30:
        return f"<p class='caption'>The confusion matrix has {len(labels)} classes; see metrics.json.</p>"
    matrix = m.confusion
    top = max(1, int(matrix.max()))
    head = "".join(f"<th>{_text(label)}</th>" for label in labels)
    rows = []
    for i, label in enumerate(labels):
        cells = "".join(
            f"<td class='{'hit' if i == j else 'miss' if matrix[i, j] else ''}' "
            f"style='--share:{matrix[i, j] / top:.3f}'>{matrix[i, j]:,}</td>"
            for j in range(len(labels))
        )
        rows.append(f"<tr><th>{_text(label)}</th>{cells}</tr>")
    return (
        f"<table class='matrix'><tr><th>true ↓ predicted →</th>{head}</tr>{''.join(rows)}</table>"
        "<p class='caption'>Rows: the given class; columns: the model's answer. The diagonal is right.</p>"
    )


def _reliability_svg(m: ModelEvaluation, colour: str, size: int = 260) -> str:
    """Accuracy per confidence bin as bars over the diagonal of perfect calibration, each bar's image count on it."""
    r = m.reliability
    pad = 34
    inner = size - 2 * pad
    bins = len(r.counts)
    width = inner / bins
    parts = [axes(size, pad, "confidence", "accuracy")]
    parts.append(
        f"<line x1='{pad}' y1='{size - pad}' x2='{size - pad}' y2='{pad}' stroke='#9aa5b1' stroke-dasharray='4 3'/>"
    )
    for i in range(bins):
        if not r.counts[i]:
            continue
        height = r.accuracy[i] * inner
        x = pad + i * width
        parts.append(
            f"<rect x='{x + 1:.1f}' y='{size - pad - height:.1f}' width='{width - 2:.1f}' height='{height:.1f}' "
            f"fill='{colour}' opacity='0.8'/><text x='{x + width / 2:.1f}' y='{size - pad - height - 3:.1f}' "
            f"font-size='9' text-anchor='middle'>{r.counts[i]}</text>"
        )
    caption = (
        "Reliability: the share right in each confidence bin (bars) against the diagonal a perfectly calibrated "
        "model would follow; the number on a bar is its images."
    )
    return figure(size, parts, caption)


def _coverage_svg(models: list[ModelEvaluation], size: int = 260) -> str:
    """Accuracy of the kept answers against the share kept, per model."""
    pad = 34
    inner = size - 2 * pad
    low = min([float(m.coverage.accuracy.min()) for m in models if len(m.coverage.accuracy)] + [0.9])
    low = max(0.0, np.floor(low * 10) / 10 - 0.05)
    parts = [axes(size, pad, "coverage (share answered)", "accuracy of the answers kept", (f"{low:.0%}", "100%"))]
    for index, m in enumerate(models):
        c = m.coverage
        xs = np.r_[0.0, c.coverage]
        ys = np.r_[c.accuracy[:1], c.accuracy] if len(c.accuracy) else np.zeros(1)
        points = " ".join(
            f"{pad + x * inner:.1f},{size - pad - (y - low) / (1 - low) * inner:.1f}"
            for x, y in zip(xs, ys, strict=True)
        )
        colour = COLOURS[index] if len(models) > 1 else "#1f2933"
        parts.append(f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='2'/>")
        if len(models) > 1:
            parts.append(
                f"<text x='{pad + 6}' y='{size - pad - 8 - 12 * index}' font-size='11' fill='{colour}'>"
                f"{_text(m.model)}</text>"
            )
    caption = "Coverage–accuracy: withholding the least confident answers first, how accurate the rest are."
    return figure(size, parts, caption)


def _gallery(e: Evaluation, title: str, note: str, rows: list[int], models: list[ModelEvaluation]) -> str:
    images = e.images
    shown = rows[:GALLERY_SIZE]
    figures = []
    for row in shown:
        image = images[row]
        answers = " · ".join(
            f"{_text(m.model) + ': ' if len(models) > 1 else ''}{_text(m.labels[m.predicted[row]])} "
            f"{probability_text(m.confidence[row], 0)}{'' if m.correct[row] else ' ✗'}"
            for m in models
        )
        figures.append(
            f"<figure>{_thumbnail(image)}<figcaption><b>{_text(image.name)}</b><br>given: "
            f"{_text(models[0].labels[models[0].truth[row]])}<br>{answers}</figcaption></figure>"
        )
    body = "".join(figures) or "<p class='caption'>No image.</p>"
    more = f" Showing {len(shown)} of {len(rows):,}." if len(rows) > len(shown) else ""
    return (
        f"<div class='gallery'><h3>{_text(title)}</h3><p class='caption'>{_text(note)}{more}</p>"
        f"<div class='thumbnails'>{body}</div></div>"
    )


def _thumbnail(image) -> str:
    from PIL import Image

    try:
        pixels = load_image(image).pixels
    except UserError:
        return "<div class='missing'>unreadable</div>"
    picture = Image.fromarray(pixels)
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_text(image.name)}' src='data:image/jpeg;base64,{encoded}'>"


def _mapping_section(e: Evaluation) -> str:
    rows = []
    for model, mapping in e.mappings.items():
        for name, label in mapping.pairs.items():
            how = mapping.how.get(name, "left out")
            rows.append(
                f"<tr><td>{_text(model)}</td><td>{_text(name)}</td><td>{_text(label or '—')}</td><td>{how}</td></tr>"
            )
    return (
        "<section><h2>Class names</h2><table class='numbers'><tr><th>model</th><th>the set's class</th>"
        f"<th>the model's label</th><th>matched</th></tr>{''.join(rows)}</table></section>"
    )


def _text(value) -> str:
    return html.escape(str(value), quote=True)


@functools.cache
def _style() -> str:
    return (Path(__file__).parent / "style.css").read_text("utf-8")


def _trust_section(trust: dict) -> str:
    """Per model, the means of the trust checks beside their references (docs/methods.md, "Can a map be trusted?")."""
    return (
        f"<section><h2>Does it look at the right thing?</h2><p>The maps of {_text(trust['method'])} on "
        f"{trust['images']} images spread over the set (removed pixels become {_text(trust['substrate'])}, "
        f"{trust['steps']} steps). Bold: the model's maps; in brackets their references — random maps and a "
        "centred blob for deletion (lower is better) and insertion (higher is better); for the pointing game the "
        "chance of a random point; for the energy in the box and the share on the dog, the box's and the dog's "
        "share of the image. A model whose maps beat their references looks at the right thing.</p>"
        f"{trust_means_table(trust['models'])}</section>"
    )
