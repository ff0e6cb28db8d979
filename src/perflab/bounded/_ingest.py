"""The upload aggregate: a JSON array of {"id": int, "value": number, "tag": str}.

`aggregate_whole` is the guide's "before": the whole body in memory, then
`json.loads`. `StreamAggregator` is fed the body chunk by chunk through
ijson's C parser: memory is bounded by the largest item (`MAX_ITEM_BYTES`),
whatever the body's size. Both answer bad input with a `BadInput` that says
where: the byte offset (and, whole-body, the line and column).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_ITEM_BYTES", "MAX_TAGS", "Aggregate", "BadInput", "StreamAggregator",
           "aggregate_whole"]

MAX_ITEM_BYTES = 64 << 10  # one item of three short fields: larger is an attack or a bug
MAX_TAGS = 1000  # distinct tags counted by name; the rest are counted as "(other)"
MAX_TAG_CHARS = 64


class BadInput(ValueError):
    """Malformed or invalid upload, with where it went wrong."""


class Aggregate:
    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.tags: dict[str, int] = {}

    def add(self, index: int, item: Any, where: str) -> None:
        if not isinstance(item, dict):
            raise BadInput(f"item {index} {where}: expected an object, got {type(item).__name__}")
        value, tag = item.get("value"), item.get("tag")
        if not isinstance(item.get("id"), int) or isinstance(item.get("id"), bool):
            raise BadInput(f"item {index} {where}: expected an integer id")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadInput(f"item {index} {where}: expected a number value")
        if not isinstance(tag, str) or len(tag) > MAX_TAG_CHARS:
            raise BadInput(f"item {index} {where}: expected a tag string of at most "
                           f"{MAX_TAG_CHARS} characters")
        number = float(value)
        self.count += 1
        self.total += number
        self.low = min(self.low, number)
        self.high = max(self.high, number)
        key = tag if tag in self.tags or len(self.tags) < MAX_TAGS else "(other)"
        self.tags[key] = self.tags.get(key, 0) + 1

    def result(self) -> dict[str, Any]:
        top = sorted(self.tags.items(), key=lambda kv: -kv[1])[:10]
        return {"count": self.count, "sum": self.total,
                "min": self.low if self.count else None,
                "max": self.high if self.count else None,
                "mean": self.total / self.count if self.count else None,
                "distinct_tags": len(self.tags), "top_tags": dict(top)}


def aggregate_whole(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise BadInput(f"malformed JSON at byte {exc.pos} (line {exc.lineno}, column "
                           f"{exc.colno}): {exc.msg}") from None
        raise BadInput(f"invalid UTF-8 at byte {exc.start}") from None
    if not isinstance(doc, list):
        raise BadInput("expected a JSON array at byte 0")
    agg = Aggregate()
    for index, item in enumerate(doc):
        agg.add(index, item, "")
    return agg.result()


class StreamAggregator:
    """Feed chunks; items are aggregated as they complete and then dropped."""

    def __init__(self) -> None:
        import ijson  # C parser (yajl2_c): only the streaming steps pay for importing it

        self.items: list[Any] = []
        self.coro = ijson.items_coro(_Sink(self.items), "item", use_float=True)
        self.agg = Aggregate()
        self.fed = 0
        self.since_item = 0
        self.index = 0
        self.started = False  # the first non-blank byte must open an array

    def feed(self, chunk: bytes) -> None:
        import ijson

        if not self.started and chunk.strip():
            if not chunk.lstrip().startswith(b"["):
                at = self.fed + len(chunk) - len(chunk.lstrip())
                raise BadInput(f"expected a JSON array at byte {at}")
            self.started = True
        self.fed += len(chunk)
        self.since_item += len(chunk)
        try:
            self.coro.send(chunk)
        except ijson.JSONError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInput(f"malformed JSON before byte {self.fed}: {first}") from None
        self._drain()
        if self.since_item > MAX_ITEM_BYTES:
            raise BadInput(f"item {self.index} near byte {self.fed}: larger than "
                           f"{MAX_ITEM_BYTES} bytes")

    def _drain(self) -> None:
        if self.items:
            for item in self.items:
                self.agg.add(self.index, item, f"(before byte {self.fed})")
                self.index += 1
            self.items.clear()
            self.since_item = 0

    def close(self) -> dict[str, Any]:
        import ijson

        try:
            self.coro.close()
        except ijson.JSONError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInput(f"malformed JSON at the end (byte {self.fed}): {first}") from None
        self._drain()
        if self.fed == 0:
            raise BadInput("empty body: expected a JSON array")
        return self.agg.result()


class _Sink:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def send(self, item: Any) -> None:
        self.items.append(item)
