"""The gateway's TOML config, validated at start: a bad key is named with what was expected.

    [[route]]
    prefix = "/users"                    # longest prefix wins
    upstream = "http://127.0.0.1:9001"   # base URL; the rest of the path is appended
    timeout = 2.0                        # seconds
    cache_ttl = 1.0                      # seconds; 0 = no cache; only GET 200 responses
    fields = ["id", "name", "score"]     # optional: keep only these keys of each object
    preserve_host = false                # true: the client's Host goes upstream
    forward_headers = ["accept"]         # optional allow-list; default: every end-to-end one
    drop_headers = ["cookie"]            # optional: never forwarded
    ca_file = "ca.pem"                   # https upstreams: trust this CA (default: the system's)
    cache_authorized = false             # true: answers to requests with Authorization cached
    [auth]
    api_keys = ["..."]                   # optional: requests need header X-API-Key
    [limits]                             # optional
    max_body = 1048576                   # bytes of request body; more is a 413
    cache_entries = 10000                # responses kept at most
    max_connections = 4096               # client connections; beyond, a 503 and a close
    header_timeout = 60.0                # seconds to send a request head (408 past it)
    idle_timeout = 75.0                  # seconds a keep-alive connection may stay silent
    shutdown_grace = 10.0                # seconds SIGTERM waits for requests in flight
    [log]                                # optional: the access log, off without it
    access = "-"                         # "-" for stdout, else a file (appended to)
    format = "text"                      # or "json" (one object per line)
    sample = 1                           # log one request in this many
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perflab.errors import InputError

__all__ = ["AccessLog", "Config", "Route", "load_config", "parse_config"]

DEFAULT_MAX_BODY = 1 << 20  # a JSON API request larger than 1 MiB is a mistake or an attack
DEFAULT_CACHE_ENTRIES = 10_000  # responses of a few KiB: tens of MiB at most
# nginx's defaults: worker_connections 512 (we allow more: one worker serves all),
# client_header_timeout 60 s, keepalive_timeout 75 s.
DEFAULT_MAX_CONNECTIONS = 4096
DEFAULT_HEADER_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 75.0
DEFAULT_SHUTDOWN_GRACE = 10.0  # a request in flight is bounded by its route's timeout anyway


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str  # scheme://host:port[/base], without a trailing slash
    timeout: float = 2.0
    cache_ttl: float = 0.0
    fields: tuple[str, ...] | None = None
    preserve_host: bool = False
    forward_headers: tuple[str, ...] | None = None  # lower-case names
    drop_headers: tuple[str, ...] = ()
    ca_file: str | None = None
    cache_authorized: bool = False


@dataclass(frozen=True)
class AccessLog:
    target: str  # "-" (stdout) or a file path
    format: str = "text"  # "text" | "json"
    sample: int = 1


@dataclass(frozen=True)
class Config:
    routes: tuple[Route, ...]  # longest prefix first
    api_keys: frozenset[str] | None = None
    max_body: int = DEFAULT_MAX_BODY
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    access_log: AccessLog | None = None


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
    known = {"prefix", "upstream", "timeout", "cache_ttl", "fields", "preserve_host",
             "forward_headers", "drop_headers", "ca_file", "cache_authorized"}
    for key in raw:
        if key not in known:
            raise _fail(path, f"{where}.{key}", f"unknown key (expected one of {sorted(known)})")
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise _fail(path, f"{where}.prefix", f"expected a path starting with '/', got {prefix!r}")
    upstream = raw.get("upstream")
    parts = urlsplit(upstream) if isinstance(upstream, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(path, f"{where}.upstream",
                    f"expected an http:// or https:// URL, got {upstream!r}")
    fields = _strings(path, f"{where}.fields", raw.get("fields"))
    allow = _strings(path, f"{where}.forward_headers", raw.get("forward_headers"))
    drop = _strings(path, f"{where}.drop_headers", raw.get("drop_headers"))
    ca_file = raw.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file):
        raise _fail(path, f"{where}.ca_file", f"expected a file name, got {ca_file!r}")
    if ca_file is not None and parts.scheme != "https":
        raise _fail(path, f"{where}.ca_file", "only for an https:// upstream")
    if ca_file is not None and not Path(ca_file).is_absolute():  # beside the config file
        ca_file = str(Path(path).parent / ca_file)
    return Route(
        prefix=prefix.rstrip("/") or "/",
        upstream=upstream.rstrip("/"),  # type: ignore[union-attr]
        timeout=_number(path, f"{where}.timeout", raw.get("timeout", 2.0), positive=True),
        cache_ttl=_number(path, f"{where}.cache_ttl", raw.get("cache_ttl", 0.0), positive=False),
        fields=tuple(fields) if fields is not None else None,
        preserve_host=_flag(path, f"{where}.preserve_host", raw.get("preserve_host", False)),
        forward_headers=tuple(h.lower() for h in allow) if allow is not None else None,
        drop_headers=tuple(h.lower() for h in drop or ()),
        ca_file=ca_file,
        cache_authorized=_flag(path, f"{where}.cache_authorized",
                               raw.get("cache_authorized", False)),
    )


def _strings(path: str, key: str, value: Any) -> list[str] | None:
    if value is not None and (
        not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)
    ):
        raise _fail(path, key, f"expected a list of non-empty strings, got {value!r}")
    return value


def _flag(path: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, key, f"expected true or false, got {value!r}")
    return value


def _access_log(path: str, raw: Any) -> AccessLog | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(path, "log", "expected a table")
    for key in raw:
        if key not in ("access", "format", "sample"):
            raise _fail(path, f"log.{key}", "unknown key (expected access, format or sample)")
    target = raw.get("access")
    if not isinstance(target, str) or not target:
        raise _fail(path, "log.access", f"expected \"-\" or a file name, got {target!r}")
    fmt = raw.get("format", "text")
    if fmt not in ("text", "json"):
        raise _fail(path, "log.format", f"expected \"text\" or \"json\", got {fmt!r}")
    sample = raw.get("sample", 1)
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise _fail(path, "log.sample", f"expected a positive integer, got {sample!r}")
    if target != "-" and not Path(target).is_absolute():
        target = str(Path(path).parent / target)
    return AccessLog(target, fmt, sample)


def parse_config(data: dict[str, Any], path: str = "<config>") -> Config:
    for key in data:
        if key not in ("route", "auth", "limits", "log"):
            raise _fail(path, key, "unknown key (expected route, auth, limits or log)")
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
    known = ("max_body", "cache_entries", "max_connections", "header_timeout",
             "idle_timeout", "shutdown_grace")
    for key in limits:
        if key not in known:
            raise _fail(path, f"limits.{key}", f"unknown key (expected one of {list(known)})")
    max_body = limits.get("max_body", DEFAULT_MAX_BODY)
    entries = limits.get("cache_entries", DEFAULT_CACHE_ENTRIES)
    connections = limits.get("max_connections", DEFAULT_MAX_CONNECTIONS)
    for key, value in (("limits.max_body", max_body), ("limits.cache_entries", entries),
                       ("limits.max_connections", connections)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(path, key, f"expected a positive integer, got {value!r}")
    seconds = {key: _number(path, f"limits.{key}", limits.get(key, default), positive=True)
               for key, default in (("header_timeout", DEFAULT_HEADER_TIMEOUT),
                                    ("idle_timeout", DEFAULT_IDLE_TIMEOUT),
                                    ("shutdown_grace", DEFAULT_SHUTDOWN_GRACE))}
    return Config(
        routes=tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True)),
        api_keys=frozenset(keys) if keys else None,
        max_body=max_body,
        cache_entries=entries,
        max_connections=connections,
        access_log=_access_log(path, data.get("log")),
        **seconds,
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
