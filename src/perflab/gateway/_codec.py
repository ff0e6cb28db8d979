"""JSON codecs (`CODECS`): how an error body is written and how `fields` rewrites a body.

    stdlib   json: Python objects for every key, then encoded again
    orjson   the same in Rust: the guide's "fast JSON" step
    msgspec  only the kept keys are decoded (a struct of just those fields); the rest
             are skipped by the C parser, never built as Python objects
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["CODECS", "Codec", "select_fields"]

Picker = Callable[[bytes], bytes]  # a body with only the kept fields; ValueError if not JSON


class Codec(Protocol):
    def dumps(self, doc: Any) -> bytes: ...
    def picker(self, fields: Sequence[str]) -> Picker: ...


def select_fields(doc: Any, fields: Sequence[str]) -> Any:
    """Keep only `fields` of each object (of a list of objects, or of one object)."""
    if isinstance(doc, dict):
        return {k: doc[k] for k in fields if k in doc}
    if isinstance(doc, list):
        return [{k: o[k] for k in fields if k in o} if isinstance(o, dict) else o for o in doc]
    return doc


class _Generic:
    def __init__(self, loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> None:
        self.loads, self.dumps = loads, dumps

    def picker(self, fields: Sequence[str]) -> Picker:
        loads, dumps, kept = self.loads, self.dumps, tuple(fields)
        return lambda body: dumps(select_fields(loads(body), kept))


def _stdlib() -> Codec:
    return _Generic(json.loads, lambda doc: json.dumps(doc).encode())


def _orjson() -> Codec:
    import orjson  # a compiled extension: imported only by the steps that use it

    return _Generic(orjson.loads, orjson.dumps)


class _Msgspec:
    def __init__(self) -> None:
        import orjson

        self.generic = _Generic(orjson.loads, orjson.dumps)
        self.dumps = orjson.dumps

    def picker(self, fields: Sequence[str]) -> Picker:
        """`select_fields` on the raw JSON: the same output, the kept keys in the given order.

        The common shapes (an object, a list of objects) decode into a struct of just
        these fields; any other shape (a scalar, a list of scalars) takes the generic path.
        """
        import msgspec

        names = [f"f{i}" for i in range(len(fields))]  # JSON keys need not be identifiers
        # gc=False: decoded JSON has no cycles, so the collector need not track these structs.
        picked = msgspec.defstruct(
            "Picked", [(n, Any, msgspec.UNSET) for n in names], omit_defaults=True,
            rename=dict(zip(names, fields, strict=True)), gc=False)
        decode = msgspec.json.Decoder(list[picked] | picked).decode  # type: ignore[valid-type]
        encode = msgspec.json.Encoder().encode
        generic = self.generic.picker(fields)
        shape_error = msgspec.ValidationError

        def pick(body: bytes) -> bytes:
            try:
                return encode(decode(body))
            except shape_error:
                return generic(body)

        return pick


CODECS: dict[str, Callable[[], Codec]] = {"stdlib": _stdlib, "orjson": _orjson,
                                           "msgspec": _Msgspec}
