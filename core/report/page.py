"""The HTML report of a comparison: one self-contained file. Every picture is embedded as a data URI,
the style (style.css) is inline in the page (core/page.html), nothing is fetched, and it prints cleanly to PDF.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from pathlib import Path

import numpy as np

from core.agreement import SCORES, agreeing_share, mean_agreement
from core.classify import Prediction, probability_text
from core.explain import METHODS, Explanation
from core.familiarity import assess_predictions, calibration_of
from core.html_parts import axes, document, figure, trust_means_table
from core.images import DecodedImage
from core.render import (
    PER_IMAGE,
    PER_MAP,
    colour_bar,
    colour_limits,
    display_size,
    explanation_picture,
    is_blank,
    limit_caption,
    scale_sentence,
)
from core.report.comparison import Comparison
from core.spec import assumed_in_words
from core.trust import words as trust_words

REPORT_SIDE = 360  # pixels of the longest side of each picture in the report: sharp in print, small files
CURVE_SIDE = 240  # pixels of each deletion and insertion chart's side
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


def render_report(
    comparison: Comparison,
    *,
    shared: bool = False,
    opacity: float = 0.6,
    title: str = "Why the classifiers decided",
    curves: bool = True,
) -> str:
    """One HTML page, self-contained (pictures as data URIs, inline style, no scripts, no links). Each map is on its
    own colour scale, or (`shared`) on one scale shared by the maps of each image. Where the comparison holds trust
    checks, each map's numbers beside their references, a sentence per number and (`curves`) its deletion and
    insertion curves."""
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
    if c.trust:
        parts.append(_trust_summary(c))
    scale = PER_IMAGE if shared else PER_MAP
    limits = {method: colour_limits(c.maps(method), METHODS[method].signed, scale) for method in c.methods}
    for i, image in enumerate(c.images):
        parts.append(_image_section(c, i, image, limits, scale, opacity, curves))
    parts.append(_models_section(c))
    parts.append(_parameters_section(c, scale))
    style, trust_style = _styles()
    return document(title, style + (trust_style if c.trust else ""), "\n".join(parts))


def _summary(c: Comparison) -> str:
    a, b = (spec.name for spec in c.models)
    rows = []
    for method in c.methods:
        means = mean_agreement(c.agreements(method))
        different = means["different_classes"]
        rows.append(
            f"<tr><th>{_text(METHODS[method].title)}</th><td>{means['rank_correlation']:+.2f}</td>"
            f"<td>{means['top_iou']:.2f}</td><td>{means['box_iou']:.2f}</td>"
            f"<td>{agreeing_share(means['same_prediction'])}</td>"
            f"<td>{f'{different} of {len(c.images)}' if different else 'none'}</td></tr>"
        )
    headings = "".join(f"<th>{_text(SCORES[key].read(c.percent)[0])}</th>" for key in SCORES)
    classes = c.class_sets.sentence(a, b)
    return (
        f"<section class='summary'><h2>Do {_text(a)} and {_text(b)} look at the same thing?</h2>"
        + (f"<p class='warning'>{_text(classes)}</p>" if classes else "")
        + f"<p>Means over {len(c.images)} image{'s' if len(c.images) != 1 else ''}.</p>"
        f"<table><thead><tr><th>Method</th>{headings}<th>Maps of different classes</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{_score_legend(c.percent)}</section>"
    )


def _score_legend(percent: float) -> str:
    items = "".join(
        f"<li><b>{_text(label)}</b>: {_text(reading)} <span class='detail'>({_text(detail)})</span></li>"
        for label, reading, detail in (score.read(percent) for score in SCORES.values())
    )
    return f"<ul class='legend'>{items}</ul>"


def _trust_summary(c: Comparison) -> str:
    """The means of each model's and method's checks over the images beside their references' means."""
    means = {
        f"{name} · {METHODS[method].title}": summary
        for method, by_model in c.trust_summary().items()
        for name, summary in by_model.items()
    }
    count = len(c.images)
    located = next(iter(means.values()))["with_box"]
    where = (
        "the pointing game, the energy in the box and the share on the dog over the "
        f"{located} that know where the object is"
        if 0 < located < count
        else "a dash where no image says where the object is"
        if not located
        else ""
    )
    return (
        "<section class='trust-summary'><h2>Can the maps be trusted?</h2>"
        f"<p>Means over {count} image{'s' if count != 1 else ''}{f' ({where})' if where else ''}. Bold: the maps; in "
        "brackets their references — random maps and a centred blob for deletion (lower is better) and insertion "
        "(higher is better); for the pointing game the chance of a random point; for the energy in the box and the "
        "share on the dog, the box's and the dog's share of the image. Under each map below: its own numbers, with a "
        "sentence on how to read each.</p>"
        f"{trust_means_table(means, 'model · method')}</section>"
    )


def _trust_block(checks, curves: bool) -> str:
    """One map's checks: deletion and insertion beside the references with a sentence each (and the curves), and
    where the truth is known the pointing game, the energy in the box, the box IoU and the parts' shares."""
    faith, label = checks.faithfulness, checks.target_label
    sentences = [
        trust_words.deletion_sentence(faith, label),
        trust_words.insertion_sentence(faith, label),
        trust_words.centre_sentence(faith),
    ]
    parts = [
        "<div class='trust'><h4>Is the map true to the model?</h4>",
        _table(trust_words.faithfulness_rows(faith)),
        _captions(sentences),
    ]
    if curves:
        parts.append(_curves_svg(faith, label))
    local = checks.localisation
    if local is not None:
        parts += [
            "<h4>Does it point at the object?</h4>",
            _table(trust_words.localisation_rows(local)),
            _captions([trust_words.pointing_sentence(local), trust_words.energy_sentence(local),
                       trust_words.iou_sentence(local)]),
        ]  # fmt: skip
        shares = trust_words.parts_rows(local)
        if shares:
            parts += [_table(shares), _captions([trust_words.parts_sentence(local)])]
    parts.append("</div>")
    return "".join(parts)


def _table(rows: list[list[str]]) -> str:
    """A small table of text rows (the first is the heading), the map's own column (the second) in bold."""
    head, *body = rows
    cells = "".join(f"<th>{_text(cell)}</th>" for cell in head)
    lines = "".join(
        f"<tr><th>{_text(row[0])}</th><td><b>{_text(row[1])}</b></td>"
        + "".join(f"<td>{_text(cell)}</td>" for cell in row[2:])
        + "</tr>"
        for row in body
    )
    return f"<table class='trust-table'><thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


def _captions(sentences: list[str | None]) -> str:
    return "".join(f"<p class='caption'>{_text(sentence)}</p>" for sentence in sentences if sentence)


def _curves_svg(faith, label: str) -> str:
    """The target's probability per step of deletion (solid) and insertion (dashed), for the map and its references,
    in the colours the dashboard's chart uses."""
    size, pad = CURVE_SIDE, 34
    inner = size - 2 * pad
    named = [("this map", faith.map), *((trust_words.reference_title(n), f) for n, f in faith.references.items())]
    parts = [axes(size, pad, "pixels removed or restored", f"p({label})")]
    for index, (title, curve) in enumerate(named):
        colour = trust_words.CURVE_COLOURS[index % len(trust_words.CURVE_COLOURS)]
        for values, dash in ((curve.deletion, ""), (curve.insertion, " stroke-dasharray='4 3'")):
            points = " ".join(
                f"{pad + x * inner:.1f},{size - pad - float(y) * inner:.1f}"
                for x, y in zip(curve.fractions, values, strict=True)
            )
            parts.append(f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='1.6'{dash}/>")
        # The legend above the frame, two names a line.
        parts.append(
            f"<text x='{pad + 96 * (index % 2)}' y='{11 + 11 * (index // 2)}' font-size='10' fill='{colour}'>"
            f"▬ {_text(title)}</text>"
        )
    caption = f"p({label}) as {trust_words.curve_axis_title(faith.map.substrate)}."
    return figure(size, parts, caption)


def _image_section(
    c: Comparison, i: int, image: DecodedImage, limits: dict, scale: str, opacity: float, curves: bool = True
) -> str:
    """One image: the picture, every model's predictions, then per method its colour bar and each model's overlay
    (colour limits from `limits[method][(model, i)]`, on the colour scale `scale`), its trust checks where the
    comparison holds them, and how much they agree."""
    truth = c.true_labels[i] if i < len(c.true_labels) else None
    true_box = c.true_boxes[i] if i < len(c.true_boxes) else None
    predictions = "".join(
        f"<div class='prediction'><h4>{_text(spec.name)}</h4>{_predictions(c.predictions[spec.name][i])}"
        f"{_familiarity(spec, c.predictions[spec.name][i])}</div>"
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
                opacity=opacity, colourmap=chosen.colourmap, exponent=chosen.overlay_exponent, side=REPORT_SIDE,
                true_box=true_box,
            )  # fmt: skip
            blank = (
                f"<p class='blank'>{_text(chosen.blank_sentence(result.target_label))}</p>"
                if is_blank(result.map)
                else ""
            )
            shown = (
                f"<figure>{_picture(picture, f'{spec.name} {method}')}<figcaption>{_text(spec.name)} · explaining "
                f"“{_text(result.target_label)}” · {_text(limit_caption(result.map, limit, chosen.signed, scale))}"
                f"</figcaption>{blank}</figure>"
            )
            if c.trust:
                shown = f"<div class='column'>{shown}{_trust_block(c.trust[(spec.name, method)][i], curves)}</div>"
            figures.append(shown)
        scores = ""
        if c.pair:
            s = c.agreements(method)[i]
            labels = {key: score.read(s.top_percent)[0] for key, score in SCORES.items()}
            explained = _text(s.explained_sentence(*(spec.name for spec in c.models)))
            scores = (
                f"<p class='scores'>{labels['rank_correlation']} <b>{s.rank_correlation:+.2f}</b> · "
                f"{labels['top_iou']} <b>{s.top_iou:.2f}</b> · {labels['box_iou']} <b>{s.box_iou:.2f}</b> · "
                f"predictions <b>{s.predictions_word}</b></p>"
                f"<p class='{'caption' if s.same_class else 'warning'}'>{explained}</p>"
            )
        rows.append(
            f"<div class='method'><h3>{_text(chosen.title)}</h3>"
            f"<p class='caption'>{_text(chosen.caption)}</p><p class='colour-key'>"
            f"{_picture(colour_bar(chosen.signed, chosen.colourmap, chosen.overlay_exponent), 'colour bar')}"
            f"Colours: {_text(chosen.legend)}</p>"
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


def _familiarity(spec, predictions: list[Prediction]) -> str:
    """Whether the model is as sure as usual and the image like those it learned from, in one sentence (a warning
    when it is not); the feature distance comes with the predictions where the model has one."""
    familiarity = assess_predictions(predictions, spec)
    kind = "caption" if familiarity.familiar else "warning"
    return f"<p class='{kind}'>{_text(familiarity.sentence(spec.name))}</p>"


def _predictions(predictions: list[Prediction]) -> str:
    rows = "".join(
        f"<tr{' class=winner' if k == 0 else ''}><td>{_text(p.label)}</td><td><span class='bar' "
        f"style='width:{p.probability * 100:.1f}%'></span></td><td>{probability_text(p.probability)}</td></tr>"
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
        calibration = calibration_of(card, len(spec.labels))
        if calibration.measured:
            facts.append(
                ("Usual confidence", f"at least {calibration.floor:.0%} on {1 - calibration.share_below:.0%} of "
                 f"{calibration.images:,} {calibration.source}")
            )  # fmt: skip
        if card.get("guessed"):  # a user's model: what the file did not say and the app assumed
            facts.append(("Assumed, not given", "; ".join(assumed_in_words(spec)) or "nothing"))
        rows = "".join(f"<tr><th>{_text(label)}</th><td>{_text(_fact(value))}</td></tr>" for label, value in facts)
        cards.append(f"<div class='card'><h3>{_text(spec.name)}</h3><table>{rows}</table></div>")
    return f"<section class='models'><h2>Model cards</h2><div class='cards'>{''.join(cards)}</div></section>"


def _parameters_section(c: Comparison, scale: str) -> str:
    rows = "".join(
        f"<tr><th>{_text(METHODS[m].title)}</th><td>"
        + (_text(", ".join(f"{k} = {'automatic' if v is None else v}" for k, v in c.params[m].items())) or "none")
        + "</td></tr>"
        for m in c.methods
    )
    notes = [
        "Each map explains the class written under it, from the model's score for that class before it is turned "
        "into a probability.",
        "Boxes (cyan) enclose 90% of each map's strength; the red dot is where the map's strength is centred.",
        scale_sentence(scale),
    ]
    if c.pair:
        notes.append(f"Top-region agreement uses the {c.percent:g}% strongest pixels of each map.")
    if c.trust:
        faith = next(iter(c.trust.values()))[0].faithfulness
        notes.append(
            "Deletion and insertion: the target's probability as the pixels the map ranks first are removed, or "
            "restored to an image with none of them; the area under each curve. "
            + trust_words.substrate_sentence(faith)
        )
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


@functools.cache
def _styles() -> tuple[str, str]:
    """The report's style sheet and the trust checks' (trust.css), read once."""
    folder = Path(__file__).parent
    return (folder / "style.css").read_text("utf-8"), (folder / "trust.css").read_text("utf-8")
