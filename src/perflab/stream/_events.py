"""The workload: deterministic events shaped like the guide's `KafkaMessage`, and bad ones.

An event is a JSON object of about 1 KB:

    {"id": "evt-000000000042", "timestamp": 1767225600294,
     "data": {"user_id": 123, "event_type": "click", "amount": 12.5, "country": "DE",
              "page": "/products/42", "referrer": ..., "user_agent": ..., "session": ...,
              "comment": ...},
     "metadata": {"source": "web", "region": "eu-west", "schema": "1", "trace_id": ...,
                  "producer": "perflab"}}

`data` is the guide's `map[string]interface{}`: the processor keeps five of its
keys as columns and ignores the rest. `metadata` is `map[string]string`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

__all__ = ["BAD_KINDS", "FORMATS", "event", "event_bytes", "events"]

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TYPES = ("view", "click", "add_to_cart", "purchase", "search")
COUNTRIES = ("DE", "FR", "US", "GB", "JP", "BR", "IN", "NL", "SE", "ES", "IT", "CA")
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-northeast")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
_TEXT = ("the quick brown fox jumps over the lazy dog while the processor keeps up with "
         "the stream and nothing is lost on the way to the column store ") * 8

FORMATS = ("json", "protobuf")

# One malformed message of each kind in turn (`--bad-ratio`).
BAD_KINDS = ("invalid JSON", "missing field", "mistyped field", "not an object",
             "invalid UTF-8")


def event(i: int) -> dict[str, object]:
    start = (i * 37) % 200
    return {
        "id": f"evt-{i:012d}",
        "timestamp": BASE_MS + i * 7,
        "data": {
            "user_id": (i * 2_654_435_761) % 1_000_003,
            "event_type": TYPES[i % len(TYPES)],
            "amount": ((i * 7919) % 100_000) / 100,
            "country": COUNTRIES[i % len(COUNTRIES)],
            "page": f"/products/{i % 5000}",
            "referrer": f"https://search.example.com/?q=item+{i % 977}",
            "user_agent": AGENTS[i % len(AGENTS)],
            "session": f"{(i * 48_271) % 2**32:08x}{(i // 100):08x}",
            "comment": _TEXT[start:start + 420],
        },
        "metadata": {
            "source": "web" if i % 3 else "app",
            "region": REGIONS[i % len(REGIONS)],
            "schema": "1",
            "trace_id": f"{(i * 0x9E3779B97F4A7C15) % 2**128:032x}",
            "producer": "perflab",
        },
    }


def _bad(i: int, kind: str) -> bytes:
    good = event(i)
    if kind == "invalid JSON":
        return json.dumps(good).encode()[:-7]
    if kind == "missing field":
        data = dict(good["data"])  # type: ignore[call-overload]
        del data["user_id"]
        return json.dumps({**good, "data": data}).encode()
    if kind == "mistyped field":
        data = dict(good["data"])  # type: ignore[call-overload]
        data["amount"] = "12,50"
        return json.dumps({**good, "data": data}).encode()
    if kind == "not an object":
        return json.dumps([good["id"], good["timestamp"]]).encode()
    return json.dumps(good).encode().replace(b"evt-", b"evt\xff", 1)  # invalid UTF-8


def event_bytes(i: int, bad_every: int = 0, fmt: str = "json") -> tuple[bytes, str | None]:
    """Event `i` as JSON (or protobuf) bytes; every `bad_every`-th one malformed, in turn."""
    kind = None
    if bad_every and i % bad_every == bad_every - 1:
        kind = BAD_KINDS[(i // bad_every) % len(BAD_KINDS)]
    if fmt == "protobuf":
        from perflab.stream._protobuf import bad_event, encode_event

        return (encode_event(event(i)) if kind is None else bad_event(event(i), kind)), kind
    if kind is not None:
        return _bad(i, kind), kind
    return json.dumps(event(i), separators=(",", ":")).encode(), None


def events(count: int, bad_ratio: float = 0.0,
           fmt: str = "json") -> Iterator[tuple[int, bytes, str | None]]:
    """(index, value, bad kind or None) for `count` events."""
    bad_every = round(1 / bad_ratio) if bad_ratio > 0 else 0
    for i in range(count):
        value, kind = event_bytes(i, bad_every, fmt)
        yield i, value, kind
