"""The page `perflab profile` leaves beside its files: every table it printed, the graphs.

Plain HTML: tables as the terminal showed them, the flame graphs embedded
as `<img>` of the SVG files next to the page (so the page and the files stay
one set, and the SVG's tooltips work when opened on its own).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from perflab.measure._format import Table
from perflab.report._html import STYLE, _table_html

__all__ = ["Section", "write_profile_page"]

Section = tuple[str, Table | Path | str]  # heading, and a table, an image beside the page, text


def write_profile_page(path: Path, title: str, sections: Sequence[Section]) -> None:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, Table):
            parts.append(_table_html(body, "profile"))
        elif isinstance(body, Path):
            name = html.escape(body.name)
            parts.append(f'<figure><a href="{name}"><img src="{name}" alt="{name}" '
                         'style="max-width:100%"></a></figure>')
        else:
            parts.append(f"<p>{html.escape(body)}</p>")
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE} body {{ max-width: 80rem; }}</style></head>
<body>
{chr(10).join(parts)}
</body></html>
""", encoding="utf-8")
