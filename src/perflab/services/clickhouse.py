"""ClickHouse for perflab: chDB in-process by default, any server over HTTP.

`connect(target)` takes `chdb:///path` (or a bare path) for an embedded chDB
data directory, or `http(s)://host:8123` for a server, and returns a client
with three calls: `command(sql)`, `insert(table, body, ...)` (a JSONEachRow or
JSONCompactEachRow body, streamed to ClickHouse's own parser) and `scalar(sql)`.
chDB allows one process per data path: the stream processor's worker
processes hand their batches to the one process that owns the client.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from perflab.errors import ServiceError, UsageError

__all__ = ["ClickHouse", "check_target", "connect", "default_path", "is_transient",
           "quote_table"]

Settings = Mapping[str, int | str]


class ClickHouse(Protocol):
    target: str

    def command(self, sql: str) -> None: ...
    def insert(self, table: str, body: bytes, settings: Settings | None = None,
               fmt: str = "JSONEachRow", columns: Sequence[str] = (),
               checked: bool = False) -> int | None:
        """Rows written, counting those a materialized view wrote (None: not reported).

        `checked`: every error must raise. chDB's streaming insert reports a block as
        written and drops it when the sink stage fails (a violated constraint, a failing
        view, a memory limit: chDB 4.4); a checked insert goes through a query instead."""
    def scalar(self, sql: str) -> int: ...
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The result of a query, one tuple a row."""
    def schema_settings(self, schema: str, message: str) -> Settings:
        """Insert settings that give ClickHouse's Protobuf reader `schema` (.proto text)."""
    def close(self) -> None: ...


def default_path() -> Path:
    from perflab.commands._common import cache_dir

    return cache_dir() / "chdb"


def _settings_clause(settings: Settings | None) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}"
                                    for k, v in settings.items())


class ChdbClient:
    """An in-process chDB session on one data directory."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        self.target = f"chdb://{path}"
        self._path = path
        with _reported(f"cannot open chDB at {path}"):
            self._session: Any = session.Session(str(path))  # type: ignore[no-untyped-call]

    def command(self, sql: str) -> None:
        with _reported("ClickHouse"):
            self._session.query(sql)

    def insert(self, table: str, body: bytes, settings: Settings | None = None,
               fmt: str = "JSONEachRow", columns: Sequence[str] = (),
               checked: bool = False) -> int | None:
        names = f" ({', '.join(columns)})" if columns else ""
        query = f"INSERT INTO {quote_table(table)}{names}{_settings_clause(settings)}"
        if checked:
            # The query path raises a violated constraint, a failing view or a memory limit;
            # the streaming insert below reports the rows as written and drops them (chDB
            # 4.4). It costs a copy of the body and more time a batch.
            with _reported(f"ClickHouse insert into {table}"):
                self._session.query(f"{query} FORMAT {fmt}\n{body.decode()}")
            return None
        with _reported(f"ClickHouse insert into {table}"),\
                self._session.send_insert(query, fmt) as inserter:
            inserter.append(body)
            result = inserter.finish()
        # chDB's streaming insert does not raise when a materialized view fails: the
        # view's rows are then missing from this count, and callers must check it.
        return int(result.rows_written)

    def scalar(self, sql: str) -> int:
        with _reported("ClickHouse"):
            out = self._session.query(sql, "TSV")
        return int(str(out).strip() or 0)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import json

        with _reported("ClickHouse"):
            out = self._session.query(sql, "JSONCompact")
        text = out.bytes() if hasattr(out, "bytes") else str(out).encode()
        return [tuple(row) for row in json.loads(text)["data"]] if text.strip() else []

    def schema_settings(self, schema: str, message: str) -> Settings:
        # A schema given as a string (format_schema_source) is cached by chDB in the
        # process's working directory: a file in the data directory instead.
        import hashlib

        digest = hashlib.sha256(schema.encode()).hexdigest()
        file = self._path / "format_schemas" / f"{digest}.proto"
        if not file.exists():
            file.parent.mkdir(exist_ok=True)
            partial = file.with_suffix(f".{os.getpid()}")
            partial.write_text(schema)
            partial.replace(file)  # whole or absent, for another reader of the directory
        return {"format_schema": f"{file}:{message}"}

    def close(self) -> None:
        self._session.close()


class HttpClient:
    """A ClickHouse server over its HTTP interface (clickhouse-connect)."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        self.target = url
        with _reported(f"cannot reach ClickHouse at {url}"):
            self._client: Any = clickhouse_connect.get_client(dsn=url)

    def command(self, sql: str) -> None:
        with _reported("ClickHouse"):
            self._client.command(sql)

    def insert(self, table: str, body: bytes, settings: Settings | None = None,
               fmt: str = "JSONEachRow", columns: Sequence[str] = (),
               checked: bool = False) -> int | None:
        with _reported(f"ClickHouse insert into {table}"):  # a failing view is an error here
            summary = self._client.raw_insert(table, column_names=list(columns) or None,
                                              insert_block=body, settings=dict(settings or {}),
                                              fmt=fmt)
        written = getattr(summary, "written_rows", None)
        return int(written) if written is not None else None

    def scalar(self, sql: str) -> int:
        with _reported("ClickHouse"):
            return int(self._client.command(sql))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with _reported("ClickHouse"):
            return [tuple(row) for row in self._client.query(sql).result_rows]

    def schema_settings(self, schema: str, message: str) -> Settings:
        # The server caches it in its own format_schemas directory
        return {"format_schema_source": "string", "format_schema": schema,
                "format_schema_message_name": message}

    def close(self) -> None:
        self._client.close()


def quote_table(name: str) -> str:
    """`DB.TABLE` or `TABLE` as quoted identifiers (a name holds no dot of its own here)."""
    return ".".join("`" + part.replace("\\", "\\\\").replace("`", "\\`") + "`"
                    for part in name.split(".", 1))


# ClickHouse error codes that say the server, not the data, is in trouble: retry later.
# TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR,
# MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS, TABLE_IS_READ_ONLY, ALL_CONNECTION_TRIES_FAILED,
# SYSTEM_ERROR, KEEPER_EXCEPTION, UNEXPECTED_PACKET_FROM_SERVER, POCO_EXCEPTION (network).
TRANSIENT_CODES = frozenset({101, 159, 202, 209, 210, 241, 242, 252, 279, 425, 999, 1000})
TRANSIENT_WORDS = ("connection refused", "connection reset", "connection aborted",
                   "broken pipe", "timed out", "timeout", "temporarily unavailable",
                   "remote end closed", "max retries exceeded", "name or service not known",
                   "service unavailable", "bad gateway", "gateway timeout")
_CODE = re.compile(r"\bCode:? (\d+)")
_HTTP_5XX = re.compile(r"\b(?:HTTP|status|response code)[^0-9]{0,12}5\d\d\b", re.IGNORECASE)


def is_transient(error: BaseException) -> bool:
    """Whether a failed insert should be retried as it is (the sink's trouble, not the data's).

    Looks at the error and its causes: OS-level connection errors, an HTTP 5xx, a
    ClickHouse error code of the server's state (TRANSIENT_CODES), or the words
    clients use for a lost connection. Anything else (a parse or type error) is
    the data's: the caller looks for the rows ClickHouse refused.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return True
        text = str(seen)
        codes = {int(code) for code in _CODE.findall(text)}
        if codes & TRANSIENT_CODES:
            return True
        if not codes:
            lowered = text.lower()
            if _HTTP_5XX.search(text) or any(word in lowered for word in TRANSIENT_WORDS):
                return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def _reported(what: str) -> Iterator[None]:
    """Any error of the ClickHouse libraries as a ServiceError: `what: first line`."""
    try:
        yield
    except Exception as exc:  # chDB and clickhouse-connect raise plain RuntimeErrors and more
        text = str(exc).strip().removeprefix("Streaming insert finish failed: ")
        first = text.splitlines()[0][:300] if text else type(exc).__name__
        raise ServiceError(f"{what}: {first}") from exc


def check_target(target: str | None) -> str:
    """The kind of `target` ("chdb" or "http"), or a UsageError before anything starts."""
    if target is None:
        return "chdb"
    scheme = urllib.parse.urlparse(target).scheme
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("chdb", ""):
        return "chdb"
    raise UsageError(f"--clickhouse {target!r}: expected chdb:///path or http://host:8123")


def connect(target: str | None) -> ClickHouse:
    """A client for `target`: None (the default chDB path), chdb:///path, a path, or http(s)://."""
    if check_target(target) == "http":
        assert target is not None
        return HttpClient(target)
    if target is None:
        return ChdbClient(default_path())
    parsed = urllib.parse.urlparse(target)
    return ChdbClient(Path(parsed.netloc + parsed.path) if parsed.scheme else Path(target))
