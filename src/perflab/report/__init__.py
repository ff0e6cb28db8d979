"""Results for people: the HTML report, Markdown summaries, the docs' generated regions.

    _html          the self-contained HTML report (tables, inline SVG charts)
    _plots         the ladder charts (matplotlib, as SVG)
    _markdown      results as Markdown: summary.md and the docs' tables
    _regions       the generated regions of README.md and docs/*.md (`make docs`)
    _timeline      the event timeline of a case: one lane per variant
    _memory        memory over time of a case's variants: usage, limit, OOM kills
    _flamegraph    flame graphs and differential flame graphs as SVG
    _profile_page  the page `perflab profile` leaves beside its files
"""

from perflab.report._html import render_report, write_report
from perflab.report._markdown import results_markdown

__all__ = ["render_report", "results_markdown", "write_report"]
