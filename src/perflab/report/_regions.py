"""Generated regions in Markdown pages, filled from kept results (`make docs`).

A region is two HTML comments and what the generator put between them:

    <!-- perflab:generated case=search table=guide -->
    ...generated; never edited by hand...
    <!-- perflab:end -->

Attributes (space-separated `key=value`):

- `table`: `guide`, `ladder` (every ladder metric, or `metric=NAME`),
  `references`, `values` (each variant's medians: benchmarks), `summary`
  (one row per case, no `case`: optional `cases=a,b`); computed, no results:
  `amdahl` (`fractions=0.4,0.1` and `speedups=10,inf`, the formula's values),
  `stopping` (`rounds=5,6`: the stopping rule's exact false-verdict rates);
  `verdicts` (`case`, `quick=results/DIR` and `full=results/DIR`: each verdict
  of the two runs side by side, and how many agree);
- `case`: the case (or benchmark) name in the results file;
- `results`: a kept directory (`results/DIR`) to take it from; without it, the
  newest kept directory that has the case (for `summary`: the newest with a
  case that has a ladder, i.e. a `perflab run`, not a benchmark).

Kept results live in `results/<date>-<host>-<commit>[-suffix]/results.json`;
newest means the greatest directory name (it begins with the UTC date).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from perflab.errors import InputError
from perflab.measure._amdahl import overall_speedup, speedup_limit
from perflab.measure._format import Table, format_ratio, format_value
from perflab.measure._records import RESULTS_FILE, CaseResult, Results, load
from perflab.measure._tables import (
    guide_table,
    ladder_metrics,
    ladder_table,
    references_table,
    summary_table,
    verdicts_table,
)
from perflab.report._markdown import environment_line, markdown_table

__all__ = ["KeptResults", "Region", "find_regions", "regenerate", "render_region",
           "stale_regions"]

START = re.compile(r"<!-- perflab:generated(?P<attrs>[^>]*?)-->[ \t]*\n")
END = "<!-- perflab:end -->"
TABLES = ("guide", "ladder", "references", "values", "summary", "amdahl", "stopping",
          "verdicts")
NEEDS_CASE = ("guide", "ladder", "references", "values", "verdicts")


@dataclass(frozen=True)
class Region:
    attrs: Mapping[str, str]
    body_start: int  # offsets in the page's text
    body_end: int
    line: int  # of the opening comment, 1-based


class KeptResults:
    """The kept results directories under `root/results`, loaded on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[Path, Results] = {}

    def directories(self) -> list[Path]:
        base = self.root / "results"
        if not base.is_dir():
            return []
        found = [d for d in base.iterdir() if (d / RESULTS_FILE).is_file()]
        return sorted(found, key=lambda d: d.name, reverse=True)

    def results(self, directory: Path) -> Results:
        if directory not in self._loaded:
            self._loaded[directory] = load(directory / RESULTS_FILE)
        return self._loaded[directory]

    def newest_run(self) -> Path | None:
        """The newest directory a `perflab run` kept: one with a case that has a baseline."""
        for directory in self.directories():
            if any(v.kind == "baseline" for c in self.results(directory).cases
                   for v in c.variants):
                return directory
        return None

    def find(self, case: str, pinned: str | None) -> tuple[Path, CaseResult] | None:
        candidates = [self.root / pinned] if pinned else self.directories()
        for directory in candidates:
            for c in self.results(directory).cases:
                if c.name == case:
                    return directory, c
        return None


def _parse_attrs(text: str, where: tuple[str, int, int]) -> dict[str, str]:
    attrs = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            path, line, column = where
            raise InputError(f"generated region: expected key=value, got {token!r}",
                             path=path, line=line, column=column)
        attrs[key] = value
    return attrs


def _fenced(text: str) -> list[tuple[int, int]]:
    """Offsets of fenced code blocks: a marker shown there is an example, not a region."""
    spans = []
    start = None
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            if start is None:
                start = offset
            else:
                spans.append((start, offset + len(line)))
                start = None
        offset += len(line)
    if start is not None:
        spans.append((start, len(text)))
    return spans


def find_regions(text: str, path: str = "<page>") -> Iterator[Region]:
    fences = _fenced(text)
    for match in START.finditer(text):
        if any(a <= match.start() < b for a, b in fences):
            continue
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        attrs = _parse_attrs(match.group("attrs"), (path, line, column))
        table = attrs.get("table")
        if table not in TABLES:
            raise InputError(f"generated region: table must be one of {', '.join(TABLES)}",
                             path=path, line=line, column=column)
        if table in NEEDS_CASE and "case" not in attrs:
            raise InputError(f"generated region: table={table} needs case=NAME",
                             path=path, line=line, column=column)
        end = text.find(END, match.end())
        nested = next((m for m in START.finditer(text, match.end())
                       if not any(a <= m.start() < b for a, b in fences)), None)
        if end < 0 or (nested is not None and nested.start() < end):
            raise InputError(f"generated region: no {END} after it",
                             path=path, line=line, column=column)
        yield Region(attrs, match.end(), end, line)


def _link(directory: Path, page: Path, root: Path) -> str:
    target = directory / "summary.md"
    if not target.exists():
        target = directory / RESULTS_FILE
    rel = os.path.relpath(target, page.parent)
    return f"[{directory.relative_to(root).as_posix()}]({Path(rel).as_posix()})"


def _source(directory: Path, case: CaseResult | None, results: Results, page: Path,
            root: Path) -> str:
    scale = f"{case.scale} scale, " if case is not None else ""
    whole = ""
    if case is None and results.elapsed_s is not None:
        whole = f"; the whole run took {format_value(results.elapsed_s, 's')}"
    env = environment_line(results.environment)
    return f"_From {_link(directory, page, root)}: {scale}{env}{whole}._"


def _values_table(case: CaseResult) -> Table:
    headers = ["Variant", "What it is", *(m.label for m in case.table)]
    rows = []
    for v in case.variants:
        cells = [v.name, v.description]
        for metric in case.table:
            m = v.metrics.get(metric.name)
            if v.error:
                cells.append("not available")
            elif m is None:
                cells.append("n/a")
            else:
                s = m.summary
                cells.append(f"{format_value(s.median, metric.unit)} ±{s.spread * 100:.0f}%")
        rows.append(cells)
    return Table(headers, rows)


def _case_tables(case: CaseResult, attrs: Mapping[str, str]) -> list[Table]:
    table = attrs["table"]
    if table == "guide":
        guide = guide_table(case)
        return [guide] if guide is not None else []
    if table == "references":
        refs = references_table(case)
        return [refs] if refs is not None else []
    if table == "values":
        return [_values_table(case)]
    metrics = ladder_metrics(case)
    if "metric" in attrs:
        metrics = [m for m in case.table if m.name == attrs["metric"]]
    return [ladder_table(case, m) for m in metrics]


def _numbers(text: str) -> list[float]:
    return [math.inf if x == "inf" else float(x) for x in text.split(",") if x]


def _amdahl_table(attrs: Mapping[str, str]) -> Table:
    fractions = _numbers(attrs.get("fractions", ""))
    speedups = _numbers(attrs.get("speedups", ""))
    rows = []
    for p, s in zip(fractions, speedups, strict=False):
        part = "removed" if math.isinf(s) else format_ratio(s)
        rows.append([f"{p * 100:.0f}%", part, format_ratio(overall_speedup(p, s)),
                     format_ratio(speedup_limit(p))])
    return Table(["Part of the time", "Part made faster by", "Overall speedup",
                  "Limit (part removed)"], rows)


def _stopping_table(attrs: Mapping[str, str]) -> Table:
    from perflab.measure._stopping import MIN_REPETITIONS, two_look_size

    rows = []
    for last in (int(x) for x in attrs.get("rounds", "5").split(",") if x):
        one = two_look_size(0, last)  # one look, at the last round only
        two = two_look_size(MIN_REPETITIONS, last) if last > MIN_REPETITIONS else None
        allowed = two is not None and two <= 0.05
        rows.append([
            str(last),
            f"{one:.4f}" if one is not None else "n/a",
            f"{two:.4f}" if two is not None else "not computed (too many rankings)",
            "yes" if allowed else "no: only exact `~` stops",
        ])
    return Table(["Repetitions", "Looking once, at the end",
                  f"Looking at {MIN_REPETITIONS} and at the end", "Interim significance stop"],
                 rows)


def _verdicts_region(attrs: Mapping[str, str], kept: KeptResults, page: Path) -> str:
    runs = []
    for scale in ("quick", "full"):
        found = kept.find(attrs["case"], attrs[scale])
        if found is None:
            return f"\n_No case `{attrs['case']}` in {attrs[scale]}._\n\n"
        directory, case = found
        runs.append((directory, Results(kept.results(directory).environment, [case])))
    (quick_dir, quick), (full_dir, full) = runs
    table = verdicts_table(quick, full)
    table = Table(table.headers[1:], [row[1:] for row in table.rows])  # one case: no column
    same = sum(row[-1] == "same" for row in table.rows)
    return ("\n" + "\n".join(markdown_table(table)) + "\n\n"
            + f"_{same} of {len(table.rows)} verdicts the same; from "
            + f"{_link(quick_dir, page, kept.root)} and {_link(full_dir, page, kept.root)}._\n\n")


def render_region(attrs: Mapping[str, str], kept: KeptResults, page: Path) -> str:
    """The Markdown between the markers, blank lines around it."""
    table = attrs["table"]
    if table == "verdicts":
        return _verdicts_region(attrs, kept, page)
    if table in ("amdahl", "stopping"):
        computed = _amdahl_table(attrs) if table == "amdahl" else _stopping_table(attrs)
        return "\n" + "\n".join(markdown_table(computed)) + "\n\n"
    pinned = attrs.get("results")
    if table == "summary":
        directory = kept.root / pinned if pinned else kept.newest_run()
        if directory is None:
            return "\n_No kept results yet: `make run`, then `make docs`._\n\n"
        results = kept.results(directory)
        names = attrs["cases"].split(",") if "cases" in attrs else None
        cases = [c for c in results.cases if names is None or c.name in names]
        lines = markdown_table(summary_table(cases))
        return ("\n" + "\n".join(lines) + "\n\n"
                + _source(directory, None, results, page, kept.root) + "\n\n")
    found = kept.find(attrs["case"], pinned)
    if found is None:
        where = pinned or "results/"
        return (f"\n_No kept results for case `{attrs['case']}` in {where} yet: "
                "`make run`, then `make docs`._\n\n")
    directory, case = found
    parts = ["\n".join(markdown_table(t)) for t in _case_tables(case, attrs)]
    if not parts:
        parts = ["_Fewer than two steps of the ladder ran._"]
    source = _source(directory, case, kept.results(directory), page, kept.root)
    return "\n" + "\n\n".join(parts) + "\n\n" + source + "\n\n"


def _render_at(region: Region, kept: KeptResults, page: Path) -> str:
    """render_region, with a bad `results=` (`quick=`, `full=`) reported at the region's line."""
    if region.attrs["table"] == "verdicts":
        missing = [key for key in ("quick", "full") if key not in region.attrs]
        if missing:
            raise InputError(f"generated region: table=verdicts needs {missing[0]}=results/DIR",
                             path=str(page), line=region.line, column=1)
    for key in ("results", "quick", "full"):
        pinned = region.attrs.get(key)
        if pinned and not (kept.root / pinned / RESULTS_FILE).is_file():
            raise InputError(f"generated region: {key}={pinned} has no {RESULTS_FILE}",
                             path=str(page), line=region.line, column=1)
    return render_region(region.attrs, kept, page)


def regenerate(text: str, page: Path, kept: KeptResults) -> str:
    out = []
    last = 0
    for region in find_regions(text, str(page)):
        out.append(text[last:region.body_start])
        out.append(_render_at(region, kept, page))
        last = region.body_end
    out.append(text[last:])
    return "".join(out)


def stale_regions(page: Path, kept: KeptResults) -> list[str]:
    """`page:line: ...` for each region whose text is not what the kept results give."""
    text = page.read_text(encoding="utf-8")
    stale = []
    for region in find_regions(text, str(page)):
        if text[region.body_start:region.body_end] != _render_at(region, kept, page):
            attrs = " ".join(f"{k}={v}" for k, v in region.attrs.items())
            stale.append(f"{page}:{region.line}: region {attrs} differs from the kept results")
    return stale
