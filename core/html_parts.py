"""Pieces shared by the self-contained HTML pages (the evaluation and the report): small charts drawn as inline SVG
(nothing is fetched and no script runs, so they open offline and print as they look) and the table of the trust
checks' means beside their references."""

from __future__ import annotations

import functools
import html
from pathlib import Path
from string import Template


def document(title: str, style: str, body: str, made_by: str = "") -> str:
    """The whole self-contained page (core/page.html): `style` inline, `body` as is, the title escaped; `made_by`
    adds to the footer's "Made by the classifier-explanations dashboard" (e.g. " (python -m core evaluate)")."""
    return _page().substitute(title=_text(title), style=style, body=body, made_by=_text(made_by))


@functools.cache
def _page() -> Template:
    return Template((Path(__file__).parent / "page.html").read_text("utf-8"))


def figure(size: int, parts: list[str], caption: str) -> str:
    """A `size`-pixel square SVG of `parts` (SVG elements) in a figure with its caption."""
    svg = f"<svg width='{size}' height='{size}' role='img'>{''.join(parts)}</svg>"
    return f"<figure>{svg}<figcaption>{_text(caption)}</figcaption></figure>"


def axes(size: int, pad: int, x_label: str, y_label: str, y_ticks: tuple[str, str] = ("0%", "100%")) -> str:
    """The frame, its two labels, and ticks at both ends and the middle of x (0–100 %) and at both ends of y."""
    end = size - pad
    ticks = "".join(
        f"<text x='{pad + share * (end - pad):.1f}' y='{end + 12}' font-size='9' text-anchor='middle'>"
        f"{share:.0%}</text>"
        for share in (0, 0.5, 1)
    )
    ticks += (
        f"<text x='{pad - 3}' y='{end}' font-size='9' text-anchor='end'>{y_ticks[0]}</text>"
        f"<text x='{pad - 3}' y='{pad + 8}' font-size='9' text-anchor='end'>{y_ticks[1]}</text>"
    )
    return ticks + (
        f"<rect x='{pad}' y='{pad}' width='{end - pad}' height='{end - pad}' fill='none' stroke='#d9e2ec'/>"
        f"<text x='{size / 2}' y='{size - 8}' font-size='11' text-anchor='middle'>{_text(x_label)}</text>"
        f"<text x='10' y='{size / 2}' font-size='11' text-anchor='middle' transform='rotate(-90 10 {size / 2})'>"
        f"{_text(y_label)}</text>"
    )


def trust_means_table(summaries: dict[str, dict], first: str = "model") -> str:
    """One row per entry of `summaries` ({name: core.trust.summary.summarise(...)}): the means of the checks in bold,
    their references' in brackets; `first` heads the names' column."""

    def number(value, percent: bool = False) -> str:
        if value is None or value != value:
            return "—"
        return f"{value:.0%}" if percent else f"{value:.3f}"

    rows = []
    for name, s in summaries.items():
        rows.append(
            f"<tr><td>{_text(name)}</td><td>{s['images']}</td>"
            f"<td><b>{number(s['deletion_auc'])}</b> ({number(s['deletion_auc_random'])}, "
            f"{number(s['deletion_auc_centre'])})</td><td><b>{number(s['insertion_auc'])}</b> "
            f"({number(s['insertion_auc_random'])}, {number(s['insertion_auc_centre'])})</td>"
            f"<td><b>{number(s.get('pointing_accuracy'), True)}</b> ({number(s.get('pointing_chance'), True)})</td>"
            f"<td><b>{number(s.get('energy_in_box'))}</b> ({number(s.get('box_area'))})</td>"
            f"<td><b>{number(s.get('share_on_dog'))}</b> ({number(s.get('dog_area'))})</td></tr>"
        )
    return (
        f"<table class='numbers'><tr><th>{_text(first)}</th><th>images</th><th>deletion AUC</th><th>insertion AUC</th>"
        "<th>pointing game</th><th>energy in the box</th><th>share on the dog</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _text(value) -> str:
    return html.escape(str(value), quote=True)
