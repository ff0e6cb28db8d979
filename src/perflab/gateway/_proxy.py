"""Pure core of the reverse proxy's job: targets, headers both ways, request ids, cache rules.

No sockets here: bytes and lists in, bytes and lists out (RFC 9110 semantics,
RFC 9112 framing, RFC 3986 paths, RFC 9111 caching; nginx as the anchor).

Header names arrive lower-cased from the server core (HTTP field names are
case-insensitive; HTTP/2 and /3 send them so), values as they were sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "HOP_BY_HOP",
    "BadRequest",
    "Forwarding",
    "Target",
    "cache_ttl",
    "check_head",
    "field_lines",
    "forwarded_head",
    "parse_target",
    "remove_dot_segments",
    "response_fields",
    "valid_request_id",
    "vary_names",
]

# RFC 9110 7.6.1, plus Proxy-Connection (pre-standard, still sent) and Keep-Alive.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade"})
# Set by the gateway itself on the way up: whatever the client sent for them is replaced
# (X-Forwarded-For is appended to, not dropped: see forwarded_head).
_REPLACED_UP = frozenset({b"host", b"content-length", b"x-forwarded-proto", b"x-forwarded-host",
                          b"x-request-id"})
# Set by the gateway on the way down: the upstream's are dropped.
_REPLACED_DOWN = frozenset({b"content-length", b"x-request-id"})
# A client's request id is echoed and forwarded only if it fits this: bounded, and nothing
# that could split a log line or a header (nginx's $request_id is 32 hex digits).
MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@+=-]{1,%d}" % MAX_REQUEST_ID)


class BadRequest(Exception):
    """The request cannot be served as sent: answered with `status` (400) and closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Target(NamedTuple):  # a tuple: made per request, a frozen dataclass costs twice as much
    path: str  # normalized: no dot segments, %2e decoded
    query: str  # as sent, without the "?"
    authority: bytes | None  # from an absolute-form target: it replaces Host (RFC 9112 3.2.2)


def parse_target(raw: bytes) -> Target:
    """The request target, normalized before routing so no path can leave its route's base.

    Dot segments go as RFC 3986 5.2.4 says. A percent-encoded "." is decoded first:
    "." is unreserved, so "%2e" and "." are the same character (RFC 3986 6.2.2.2) and a
    normalizing upstream would decode it and climb. An encoded "/" or "\\" is refused
    (400) instead: "/" is reserved, so "%2F" is data inside one segment, yet many
    upstreams decode it into a separator after the gateway has routed; there is no
    decoding that is right for both kinds, so neither meaning is guessed (Envoy's
    REJECT_REQUEST, Apache's AllowEncodedSlashes Off).
    """
    # The common target: nothing to decode, nothing to remove. Looked for in the decoded
    # str: `bytes in bytes` first tries the needle as an int and builds a TypeError.
    text = raw.decode("latin-1")
    if (text[:1] == "/" and "%" not in text and "/." not in text and "\\" not in text
            and "#" not in text):
        plain_path, _, plain_query = text.partition("?")
        return Target(plain_path, plain_query, None)
    authority = None
    if not raw.startswith(b"/"):
        scheme, sep, rest = raw.partition(b"://")
        if not sep or scheme.lower() not in (b"http", b"https"):
            raise BadRequest("request target must be a path or an http(s) URL")
        authority, slash, after = rest.partition(b"/")
        if not authority or b"@" in authority:
            raise BadRequest("bad authority in the request target")
        raw = slash + after if slash else b"/"
    if b"#" in raw:
        raise BadRequest("a fragment in the request target")
    path_bytes, _, query = raw.partition(b"?")
    path = path_bytes.decode("latin-1")
    if "%" in path or "\\" in path:
        lowered = path.lower()
        if "%2f" in lowered or "%5c" in lowered or "\\" in path or "%00" in path:
            raise BadRequest("an encoded '/', '\\' or NUL in the path")
        path = path.replace("%2e", ".").replace("%2E", ".")
    if "/." in path:
        path = remove_dot_segments(path)
    return Target(path, query.decode("latin-1"), authority)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 for an absolute path: "/a/b/../c/./d" -> "/a/c/d"; never above "/"."""
    segments = path.split("/")[1:]
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments and segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is the directory "/a/"
    return "/" + "/".join(out)


def check_head(headers: Sequence[tuple[bytes, bytes]], index: dict[bytes, bytes],
               http10: bool) -> None:
    """What the C parser lets through and a proxy must refuse (BadRequest).

    httptools (llhttp) already refuses CL with TE, a duplicate or invalid Content-Length,
    a repeated Transfer-Encoding, obs-fold, bare LF and bad chunk sizes. Left here: a
    transfer coding other than chunked (the gateway cannot decode "gzip, chunked"; RFC
    9112 6.1), Transfer-Encoding in HTTP/1.0 (faulty framing by definition, 6.1), and a
    missing or repeated Host in HTTP/1.1 (RFC 9112 3.2: 400). `index` is `headers` as a
    dict: a name is repeated only if it is shorter, so the list is walked only then.
    """
    te = index.get(b"transfer-encoding")
    if te is not None and (http10 or te.lower() != b"chunked"):
        raise BadRequest(f"unsupported Transfer-Encoding {te.decode('latin-1')!r}")
    if b"host" not in index:
        if not http10:
            raise BadRequest("an HTTP/1.1 request needs exactly one Host")
    elif len(index) != len(headers) and sum(name == b"host" for name, _ in headers) > 1:
        raise BadRequest("an HTTP/1.1 request needs exactly one Host")


@dataclass(frozen=True)
class Forwarding:
    """A route's rules for the request head going up, set once from its config."""

    host: bytes  # the upstream's authority, sent as Host unless preserve_host
    preserve_host: bool = False
    allow: frozenset[bytes] | None = None  # forward_headers; None: every end-to-end header
    drop: frozenset[bytes] = frozenset()  # drop_headers
    identity: bool = False  # the route rewrites bodies (fields): ask for no content-coding
    # Never forwarded as sent: hop-by-hop, replaced by the gateway, dropped by the route.
    skip: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        skip = HOP_BY_HOP | _REPLACED_UP | self.drop | {b"x-forwarded-for"}
        object.__setattr__(self, "skip", skip | {b"accept-encoding"} if self.identity else skip)


def connection_named(value: bytes) -> frozenset[bytes]:
    """The field names a Connection header lists: hop-by-hop too (RFC 9110 7.6.1)."""
    return frozenset(token.strip().lower() for token in value.split(b","))


_JOIN_FIELD = b": ".join


def field_lines(fields: Sequence[tuple[bytes, bytes]]) -> bytes:
    """`name: value` CRLF for each field, in order: joins in C, not a `%` format per field
    in a Python loop (fewer instructions per field, valgrind; a request has ~15 fields)."""
    return b"\r\n".join([*map(_JOIN_FIELD, fields), b""])


def forwarded_head(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]],
                   rules: Forwarding, *, client: bytes, proto: bytes, host: bytes,
                   request_id: bytes, body_length: int, keep_alive: bool) -> bytes:
    """The request head sent upstream: end-to-end fields in order, then the gateway's own.

    A repeated field stays repeated, in order. X-Forwarded-For gets the client's
    address appended to what earlier proxies put there (nginx's
    $proxy_add_x_forwarded_for); X-Forwarded-Proto and -Host say what the client used.
    One pass; the fields a Connection header names are taken out after it, if any.
    """
    skip, allow = rules.skip, rules.allow
    kept = []
    xff = b""
    connection = None
    for name, value in headers:
        if name in skip:
            if name == b"x-forwarded-for":
                xff += value + b", "
            elif name == b"connection":
                connection = value if connection is None else connection + b"," + value
        elif allow is None or name in allow:
            kept.append((name, value))
    if connection is not None:
        named = connection_named(connection)
        kept = [(name, value) for name, value in kept if name not in named]
    lines = [b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (
        method, target, host if rules.preserve_host else rules.host)]
    lines.append(field_lines(kept))
    lines.append(b"x-forwarded-for: %s%s\r\nx-forwarded-proto: %s\r\nx-forwarded-host: %s\r\n"
                 b"x-request-id: %s\r\n" % (xff, client, proto, host, request_id))
    if body_length or method not in (b"GET", b"HEAD"):
        lines.append(b"content-length: %d\r\n" % body_length)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


_DOWN_SKIP = HOP_BY_HOP | _REPLACED_DOWN


def response_fields(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's end-to-end fields, as the client gets them (length and id added later).

    Hop-by-hop fields and those its Connection names go; every other field stays,
    repeated ones (Set-Cookie) as several, in order.
    """
    kept = []
    connection = None
    for name, value in headers:
        if name not in _DOWN_SKIP:
            kept.append((name, value))
        elif name == b"connection":
            connection = value if connection is None else connection + b"," + value
    if connection is not None:
        named = connection_named(connection)
        kept = [(name, value) for name, value in kept if name not in named]
    return kept


_MAX_AGE = re.compile(rb"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)")


def cache_ttl(headers: Sequence[tuple[bytes, bytes]], route_ttl: float) -> float:
    """How long a shared cache may keep this 200 answer: 0 when it may not (RFC 9111 3, 5.2.2).

    Never with Set-Cookie (a per-user answer, nginx's rule too), Cache-Control
    no-store, private or no-cache, or Vary: *; a max-age (s-maxage first, it is
    the shared caches') shorter than the route's TTL wins.
    """
    ttl = route_ttl
    controls = []
    for name, value in headers:
        if name == b"set-cookie" or (name == b"vary" and value.strip() == b"*"):
            return 0.0
        if name == b"cache-control":
            controls.append(value.lower())
    if controls:
        control = b",".join(controls)
        if b"no-store" in control or b"private" in control or b"no-cache" in control:
            return 0.0
        ages = dict(_MAX_AGE.findall(control))
        age = ages.get(b"s-maxage", ages.get(b"max-age"))
        if age is not None:
            ttl = min(ttl, float(age))
    return ttl


def vary_names(headers: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, ...]:
    """The request fields an answer varies on (RFC 9111 4.1): a cached entry serves only a
    request that sends the same values for them (Vary: * is never cached, see cache_ttl)."""
    return tuple(sorted({token.strip().lower() for name, value in headers if name == b"vary"
                         for token in value.split(b",") if token.strip()}))


def valid_request_id(value: bytes) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None
