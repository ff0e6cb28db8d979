"""Request ids (`REQUEST_IDS`): made for a request that brings none (or a bad one)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable

__all__ = ["REQUEST_IDS"]


def _uuid4() -> Callable[[], bytes]:
    return lambda: uuid.uuid4().hex.encode()


def _counter() -> Callable[[], bytes]:
    # A random prefix per worker and a counter: unique as uuid4 is, without reading the
    # kernel's random pool and building a UUID object per request.
    ids, prefix = itertools.count(), os.urandom(8).hex().encode()
    return lambda: b"%s%016x" % (prefix, next(ids))


REQUEST_IDS: dict[str, Callable[[], Callable[[], bytes]]] = {"uuid4": _uuid4,
                                                              "counter": _counter}
