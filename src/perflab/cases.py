"""The registered case studies, by name, as `module:attribute` references.

References, not imports: a case module may import heavy things, and only the
case being run (in its own child process) should pay for them. Anywhere a case
name is accepted, a `module:attribute` reference works too (tests use that).
"""

from __future__ import annotations

import sys
from pathlib import Path

from perflab.errors import UsageError

__all__ = ["REGISTRY", "perflab_command", "resolve"]

REGISTRY: dict[str, str] = {
    "gateway": "perflab.gateway.case:CASE",
    "etl": "perflab.etl.case:CASE",
    "search": "perflab.search.case:CASE",
    "stream": "perflab.stream.case:CASE",
    "bounded": "perflab.bounded.case:CASE",
}


def resolve(name: str) -> str:
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        return name
    known = ", ".join(REGISTRY) or "none registered yet"
    raise UsageError(f"unknown case {name!r}", hint=f"cases: {known}")


def perflab_command() -> list[str]:
    """How a case runs the real tool: this environment's console script, as a user would."""
    script = Path(sys.executable).with_name("perflab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "perflab"]
