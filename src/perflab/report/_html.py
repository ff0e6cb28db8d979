"""The HTML report: a summary of every case first, then per case its tables and charts.

The summary is one row per case (baseline, final step, improvement, the final
step against each peer), then each case's guide table and its references: the
story before the detail. After it, per case, the ladder tables with their
charts and the notes. Wide tables scroll inside their own box and charts
scale to the page, so a narrow window never scrolls sideways.
"""

from __future__ import annotations

import html
from pathlib import Path

from perflab.measure._format import Table
from perflab.measure._records import CaseResult, Results
from perflab.measure._tables import (
    guide_table,
    ladder_metrics,
    ladder_table,
    references_table,
    summary_table,
)
from perflab.report._memory import memory_chart
from perflab.report._plots import ladder_chart
from perflab.report._timeline import timeline_chart

__all__ = ["render_report", "write_report"]

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222;
       padding: 0 1rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; }
th { border-bottom: 2px solid #333; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.env { color: #555; font-size: 0.9em; }
figure { margin: 0 0 1.5rem; }
figure svg { max-width: 100%; height: auto; display: block; }
nav a { margin-right: 0.8rem; }
"""


def _table_html(table: Table, css_class: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return (f'<div class="scroll"><table class="{css_class}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _title(case: CaseResult) -> str:
    return f"{html.escape(case.title)} <small>({html.escape(case.scale)} scale)</small>"


def _summary_html(results: Results) -> str:
    """The guide's table and the peers' verdicts of every case, before any ladder."""
    parts = ['<section id="summary"><h2>Summary</h2>',
             _table_html(summary_table(results.cases), "summary")]
    for case in results.cases:
        parts.append(f'<h3><a href="#{html.escape(case.name)}">{_title(case)}</a></h3>')
        guide = guide_table(case)
        if guide is not None:
            parts.append(_table_html(guide, "guide"))
        refs = references_table(case)
        if refs is not None:
            parts.append(_table_html(refs, "references"))
    parts.append("</section>")
    return "\n".join(parts)


def _case_html(case: CaseResult) -> str:
    parts = [f'<section class="case" id="{html.escape(case.name)}">', f"<h2>{_title(case)}</h2>"]
    for metric in ladder_metrics(case):
        parts += [f"<h3>Optimization ladder: {html.escape(metric.label)}</h3>",
                  _table_html(ladder_table(case, metric), "ladder")]
        chart = ladder_chart(case, metric)
        if chart:
            parts.append(f'<figure class="chart">{chart}</figure>')
    memory = memory_chart(case)
    if memory:
        parts += ["<h3>Memory over time</h3>", f'<figure class="memory">{memory}</figure>']
    timeline = timeline_chart(case)
    if timeline:
        parts += ["<h3>Timeline</h3>", f'<figure class="timeline">{timeline}</figure>']
    parts += [f"<p class=note>{html.escape(n)}</p>" for n in case.notes]
    parts.append("</section>")
    return "\n".join(parts)


def render_report(results: Results) -> str:
    env = results.environment
    env_line = ", ".join(
        f"{key}: {env[key]}" for key in ("created", "host", "python", "os", "cpu_model",
                                         "cpu_count", "git_commit") if env.get(key) is not None
    )
    if results.cases:
        nav = " ".join(f'<a href="#{html.escape(c.name)}">{html.escape(c.name)}</a>'
                       for c in results.cases)
        cases = (f'<nav><a href="#summary">summary</a> {nav}</nav>\n' + _summary_html(results)
                 + "\n" + "\n".join(_case_html(c) for c in results.cases))
    else:
        cases = "<p>No case was measured.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>perflab report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body>
<h1>perflab report</h1>
<p class="env">{html.escape(env_line)}</p>
<p>Medians over repetitions, each in a fresh process; ±: the 95% confidence interval of the
median (or the widest available with fewer than 6 samples); <code>~</code>: no significant
difference (two-sided Mann-Whitney U, p ≥ 0.05).</p>
{cases}
</body></html>
"""


def write_report(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results), encoding="utf-8")
