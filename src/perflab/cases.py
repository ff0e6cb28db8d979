"""The registered case studies, by name, as `module:attribute` references.

References, not imports: a case module may import heavy things, and only the
case being run (in its own child process) should pay for them. Anywhere a case
name is accepted, a `module:attribute` reference works too (tests use that).
"""

from __future__ import annotations

from perflab.errors import UsageError

# Moved to perflab.services; re-exported while tool branches still import it from here.
from perflab.services import perflab_command

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

