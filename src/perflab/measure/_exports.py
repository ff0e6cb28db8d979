"""Results as CSV (one row per run, read back losslessly) and as a Markdown table.

The CSV is long ("tidy"): `case,variant,kind,run,description` and one column
per metric, so a spreadsheet or pandas can pivot it, and `perflab compare`
reads it back into the same samples the JSON holds (its statistics need every
run, not a summary). Markdown is for pasting into a pull request: the table
as printed, nothing to read back.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from perflab.errors import ResultsFileError
from perflab.measure._case import KINDS, Metric
from perflab.measure._format import Table
from perflab.measure._records import CaseResult, MetricSamples, Results, VariantResult, load

__all__ = ["load_any", "markdown_table", "read_csv", "to_csv"]

_FIXED = ("case", "variant", "kind", "run", "description")


def to_csv(cases: Sequence[CaseResult]) -> str:
    names = sorted({m for c in cases for v in c.variants for m in v.metrics})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_FIXED, *names])
    for case in cases:
        for v in case.variants:
            runs = max((len(m.samples) for m in v.metrics.values()), default=0)
            for r in range(runs):
                values = []
                for name in names:
                    m = v.metrics.get(name)
                    values.append(repr(m.samples[r]) if m and r < len(m.samples) else "")
                writer.writerow([case.name, v.name, v.kind, r + 1, v.description, *values])
    return out.getvalue()


def _number(text: str, path: str, line: int, column: int) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ResultsFileError(f"expected a number, got {text!r}", path=path, line=line,
                               column=column)
    return value


def read_csv(text: str, path: str = "<csv>") -> Results:
    from perflab.measure._bench import BENCH_METRICS
    from perflab.measure._runner import _unit

    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(header[: len(_FIXED)]) != _FIXED:
        raise ResultsFileError(f"the header must start with {','.join(_FIXED)}", path=path,
                               line=1, column=1)
    metrics = header[len(_FIXED):]
    cases: dict[str, dict[str, tuple[str, str, dict[str, list[float]]]]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ResultsFileError(f"expected {len(header)} fields, got {len(row)}", path=path,
                                   line=line, column=1)
        case, variant, kind, _run, description = row[: len(_FIXED)]
        if kind not in KINDS:
            raise ResultsFileError(f"unknown kind {kind!r}", path=path, line=line,
                                   column=len(",".join(row[:2])) + 2)
        entry = cases.setdefault(case, {}).setdefault(variant, (kind, description, {}))
        column = len(",".join(row[: len(_FIXED)])) + 2
        for name, cell in zip(metrics, row[len(_FIXED):], strict=True):
            value = _number(cell, path, line, column)
            if value is not None:
                entry[2].setdefault(name, []).append(value)
            column += len(cell) + 1
    if not cases:
        raise ResultsFileError("no runs in the file", path=path, line=2, column=1)
    known = {m.name: m for m in BENCH_METRICS}
    out = []
    for case, variants in cases.items():
        vs = [VariantResult(name, kind, desc,
                            {m: MetricSamples(_unit(m), tuple(xs)) for m, xs in ms.items()})
              for name, (kind, desc, ms) in variants.items()]
        table = [known.get(m, Metric(m, m, _unit(m))) for m in metrics
                 if any(m in v.metrics for v in vs)]
        out.append(CaseResult(case, case, "bench" if case == "bench" else "csv", vs, table))
    return Results({"source": path}, out)


def load_any(path: Path) -> Results:
    """A results file perflab wrote: JSON (`perflab.results/1`) or its per-run CSV."""
    if path.suffix.lower() != ".csv":
        return load(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsFileError(f"cannot read results file: {exc.strerror}",
                               path=str(path)) from exc
    return read_csv(text, str(path))


def markdown_table(table: Table) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [row(table.headers), "|" + "---|" * len(table.headers),
            *(row(r) for r in table.rows)]
