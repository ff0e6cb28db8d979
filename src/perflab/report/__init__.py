"""A self-contained HTML report (tables and inline SVG charts) from saved results."""

from perflab.report._html import render_report, write_report

__all__ = ["render_report", "write_report"]
