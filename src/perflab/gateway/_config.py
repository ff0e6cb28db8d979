"""The gateway's TOML config, validated at start: a bad key is named with what was expected.

    [[route]]
    prefix = "/users"                    # longest prefix wins
    upstream = "http://127.0.0.1:9001"   # base URL; the rest of the path is appended
    timeout = 2.0                        # seconds
    cache_ttl = 1.0                      # seconds; 0 = no cache; only GET 200 responses
    fields = ["id", "name", "score"]     # optional: keep only these keys of each object
    [auth]
    api_keys = ["..."]                   # optional: requests need header X-API-Key
    [limits]                             # optional
    max_body = 1048576                   # bytes of request body; more is a 413
    cache_entries = 10000                # responses kept at most
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perflab.errors import InputError

__all__ = ["Config", "Route", "load_config", "parse_config"]

DEFAULT_MAX_BODY = 1 << 20  # a JSON API request larger than 1 MiB is a mistake or an attack
DEFAULT_CACHE_ENTRIES = 10_000  # responses of a few KiB: tens of MiB at most


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str  # scheme://host:port[/base], without a trailing slash
    timeout: float = 2.0
    cache_ttl: float = 0.0
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    routes: tuple[Route, ...]  # longest prefix first
    api_keys: frozenset[str] | None = None
    max_body: int = DEFAULT_MAX_BODY
    cache_entries: int = DEFAULT_CACHE_ENTRIES


def _fail(path: str, key: str, message: str) -> InputError:
    return InputError(f"{key}: {message}", path=path)


def _number(path: str, key: str, value: Any, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, key, f"expected a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise _fail(path, key, f"expected a {'positive' if positive else 'non-negative'} "
                               f"number, got {value!r}")
    return float(value)


def _route(path: str, index: int, raw: Any) -> Route:
    where = f"route[{index}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, "expected a table")
    known = {"prefix", "upstream", "timeout", "cache_ttl", "fields"}
    for key in raw:
        if key not in known:
            raise _fail(path, f"{where}.{key}", f"unknown key (expected one of {sorted(known)})")
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise _fail(path, f"{where}.prefix", f"expected a path starting with '/', got {prefix!r}")
    upstream = raw.get("upstream")
    parts = urlsplit(upstream) if isinstance(upstream, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(path, f"{where}.upstream", f"expected an http:// URL, got {upstream!r}")
    fields = raw.get("fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise _fail(path, f"{where}.fields", f"expected a list of strings, got {fields!r}")
    return Route(
        prefix=prefix.rstrip("/") or "/",
        upstream=upstream.rstrip("/"),  # type: ignore[union-attr]
        timeout=_number(path, f"{where}.timeout", raw.get("timeout", 2.0), positive=True),
        cache_ttl=_number(path, f"{where}.cache_ttl", raw.get("cache_ttl", 0.0), positive=False),
        fields=tuple(fields) if fields is not None else None,
    )


def parse_config(data: dict[str, Any], path: str = "<config>") -> Config:
    for key in data:
        if key not in ("route", "auth", "limits"):
            raise _fail(path, key, "unknown key (expected route, auth or limits)")
    raw_routes = data.get("route")
    if not isinstance(raw_routes, list) or not raw_routes:
        raise _fail(path, "route", "expected at least one [[route]] table")
    routes = [_route(path, i, r) for i, r in enumerate(raw_routes)]
    seen: set[str] = set()
    for i, r in enumerate(routes):
        if r.prefix in seen:
            raise _fail(path, f"route[{i}].prefix", f"duplicate prefix {r.prefix!r}")
        seen.add(r.prefix)
    auth = data.get("auth", {})
    keys = auth.get("api_keys") if isinstance(auth, dict) else None
    if keys is not None and (not isinstance(keys, list) or not keys
                             or not all(isinstance(k, str) and k for k in keys)):
        raise _fail(path, "auth.api_keys", f"expected a list of non-empty strings, got {keys!r}")
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise _fail(path, "limits", "expected a table")
    max_body = limits.get("max_body", DEFAULT_MAX_BODY)
    entries = limits.get("cache_entries", DEFAULT_CACHE_ENTRIES)
    for key, value in (("limits.max_body", max_body), ("limits.cache_entries", entries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(path, key, f"expected a positive integer, got {value!r}")
    return Config(
        routes=tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True)),
        api_keys=frozenset(keys) if keys else None,
        max_body=max_body,
        cache_entries=entries,
    )


_TOML_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read config: {exc.strerror}", path=str(path)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = _TOML_WHERE.search(str(exc))
        message = _TOML_WHERE.sub("", str(exc)).strip()
        line, column = (int(where.group(1)), int(where.group(2))) if where else (None, None)
        raise InputError(f"invalid TOML: {message}", path=str(path), line=line,
                         column=column) from exc
    return parse_config(data, str(path))
