"""Two models (or one) explaining the same images with the same methods, and the HTML report of it:
the comparison and its numbers (comparison.py), and its self-contained HTML page (page.py, rendered from
core/page.html and style.css)."""

from core.report.comparison import Comparison, check_trust, compare
from core.report.page import render_report

__all__ = ["Comparison", "check_trust", "compare", "render_report"]
