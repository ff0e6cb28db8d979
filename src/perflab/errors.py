"""The one exception tree of perflab.

    PerflabError                 anything perflab reports as `error: ...`, exit 2
    ├── UsageError               a bad option value or combination
    ├── InputError               bad input data; carries file, line, column
    │   └── ResultsFileError     a missing or malformed results JSON
    ├── ServiceError             a real component (PostgreSQL, Kafka, ...) failed
    │   └── ToolUnavailable      a peer tool or optional engine is not installed
    └── MeasurementError         a variant crashed or produced no samples

Dependencies' exceptions are wrapped into the most specific class here with
`raise ... from exc` at the boundary, so the CLI prints one line and callers
catch one tree.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "MeasurementError",
    "PerflabError",
    "ResultsFileError",
    "ServiceError",
    "ToolUnavailable",
    "UsageError",
]


class PerflabError(Exception):
    """Base of every error perflab reports to a user."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UsageError(PerflabError):
    """An option value or combination that cannot work."""


class InputError(PerflabError):
    """Bad input data, located as precisely as known: `file:line:column: message`."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = message
        location = ":".join(
            str(part) for part in (path, line, column) if part is not None
        )
        super().__init__(f"{location}: {message}" if location else message, hint=hint)


class ResultsFileError(InputError):
    """A results JSON file that is missing, unreadable or not perflab's schema."""


class ServiceError(PerflabError):
    """A real component (database, broker, server) could not be started or used."""


class ToolUnavailable(ServiceError):
    """A reference tool (ripgrep, nginx, psql...) or optional engine is missing.

    A reference variant raising this is shown as "not available" in the table
    instead of failing the run.
    """


class MeasurementError(PerflabError):
    """A measured variant failed, so its numbers cannot be trusted."""
