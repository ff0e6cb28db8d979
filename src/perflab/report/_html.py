"""The HTML report: per case, the guide table, the ladder table and chart, references, notes."""

from __future__ import annotations

import html
from pathlib import Path

from perflab.measure._format import Table
from perflab.measure._records import CaseResult, Results
from perflab.measure._tables import guide_table, ladder_metrics, ladder_table, references_table
from perflab.report._plots import ladder_chart
from perflab.report._timeline import timeline_chart

__all__ = ["render_report", "write_report"]

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; }
th { border-bottom: 2px solid #333; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.env { color: #555; font-size: 0.9em; }
figure { margin: 0 0 1.5rem; }
"""


def _table_html(table: Table, css_class: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _case_html(case: CaseResult) -> str:
    parts = [f'<section class="case" id="{html.escape(case.name)}">',
             f"<h2>{html.escape(case.title)} <small>({html.escape(case.scale)} scale)</small></h2>"]
    guide = guide_table(case)
    if guide is not None:
        parts += ["<h3>Results</h3>", _table_html(guide, "guide")]
    for metric in ladder_metrics(case):
        parts += [f"<h3>Optimization ladder: {html.escape(metric.label)}</h3>",
                  _table_html(ladder_table(case, metric), "ladder")]
        chart = ladder_chart(case, metric)
        if chart:
            parts.append(f'<figure class="chart">{chart}</figure>')
    timeline = timeline_chart(case)
    if timeline:
        parts += ["<h3>Timeline</h3>", f'<figure class="timeline">{timeline}</figure>']
    refs = references_table(case)
    if refs is not None:
        parts += ["<h3>References</h3>", _table_html(refs, "references")]
    parts += [f"<p class=note>{html.escape(n)}</p>" for n in case.notes]
    parts.append("</section>")
    return "\n".join(parts)


def render_report(results: Results) -> str:
    env = results.environment
    env_line = ", ".join(
        f"{key}: {env[key]}" for key in ("created", "python", "os", "cpu_model", "cpu_count",
                                         "git_commit") if env.get(key) is not None
    )
    cases = "\n".join(_case_html(c) for c in results.cases) or "<p>No case was measured.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>perflab report</title>
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
