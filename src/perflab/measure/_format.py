"""Human units for numbers and fixed-width text tables (formatters return lines)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Table", "format_p", "format_ratio", "format_value", "render_table"]

_SCALES_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))
_SCALES_BYTES = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def _si(value: float) -> str:
    for factor, prefix in _SCALES_SI:
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        if value == 0:
            return "0 s"
        if abs(value) < 1e-3:
            return f"{value * 1e6:.3g} µs"
        if abs(value) < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if unit == "B":
        for factor, name in _SCALES_BYTES:
            if abs(value) >= factor:
                return f"{value / factor:.3g} {name}"
        return f"{value:.0f} B"
    if unit == "1/s":
        return f"{_si(value)}/s"
    if unit == "%":
        return f"{value:.3g}%"
    return _si(value)


def format_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x"


def format_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The guide's table look: a heavy rule under the header and at the end."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    rule = "━" * (sum(widths) + 2 * (len(widths) - 1))
    return [line(headers), rule, *(line(r) for r in rows), rule]


@dataclass(frozen=True)
class Table:
    """Headers and rows of text cells; rendered as text here, as HTML by the report."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]

    def lines(self) -> list[str]:
        return render_table(self.headers, self.rows)
