"""`perflab gateway upstream`: a deterministic JSON service to put behind the gateway.

    GET /items            all items (a JSON list)        GET /items/{id}   one item
    GET /slow?ms=N        answers after N ms             GET /broken       200 with invalid JSON
    /echo                 the request as it arrived: method, path, query, headers in order
    GET /redirect         302 to /items                  GET /cookies      two Set-Cookie
    GET /count?cc=V       a counter (seen by a cache or not), Cache-Control: V
    anything else         404

Items answers carry what an API's do (`ANSWER_HEADERS`: Cache-Control, ETag,
...). Items are fixed for a given count: responses are precomputed bytes, so
the upstream costs little next to what it serves.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["ANSWER_HEADERS", "UpstreamApp", "item"]

# Six fields an API answer typically has besides its length (max-age: the case's cache TTL).
ANSWER_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"public, max-age=1"),
    (b"etag", b'"perflab-items-v1"'),
    (b"last-modified", b"Tue, 01 Dec 2026 00:00:00 GMT"),
    (b"x-content-type-options", b"nosniff"),
    (b"vary", b"Accept-Encoding"),
]


def item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"user-{i:05d}",
        "email": f"user{i}@example.com",
        "score": (i * 7919) % 1000 / 10,
        "tags": ["alpha", "beta", "gamma"][: 1 + i % 3],
        "address": {"city": ["Berlin", "Lyon", "Osaka", "Recife"][i % 4],
                    "zip": f"{i % 90000 + 10000}"},
        "bio": "lorem ipsum dolor sit amet " * (1 + i % 3),
    }


class UpstreamApp:
    def __init__(self, items: int = 20, latency_ms: float = 0.0) -> None:
        self.latency = latency_ms / 1000
        self.all = json.dumps([item(i) for i in range(items)]).encode()
        self.each = {str(i): json.dumps(item(i)).encode() for i in range(items)}
        self.count = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"{message['type']}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        status, body = 200, b""
        headers = ANSWER_HEADERS
        if self.latency:
            await asyncio.sleep(self.latency)
        if path == "/items":
            body = self.all
        elif path.startswith("/items/") and path[7:] in self.each:
            body = self.each[path[7:]]
        elif path == "/slow":
            from urllib.parse import parse_qs

            ms = parse_qs(scope["query_string"].decode()).get("ms", ["1000"])[0]
            await asyncio.sleep(float(ms) / 1000)
            body = b'{"slow": true}'
        elif path == "/broken":
            body = b'{"not json'
        elif path.startswith("/echo"):
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = json.dumps({
                "received": len(b"".join(chunks)), "method": scope["method"],
                "path": scope.get("raw_path", b"").decode("latin-1") or path,
                "query": scope["query_string"].decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                            for k, v in scope["headers"]]}).encode()
            headers = [(b"content-type", b"application/json")]
        elif path == "/redirect":
            status, body = 302, b""
            headers = [(b"location", b"/items"), (b"content-type", b"application/json")]
        elif path == "/cookies":
            body = b'{"cookies": 2}'
            headers = [(b"content-type", b"application/json"), (b"set-cookie", b"a=1; Path=/"),
                       (b"x-custom", b"kept"), (b"set-cookie", b"b=2; Path=/; HttpOnly")]
        elif path == "/count":
            from urllib.parse import parse_qs

            self.count += 1
            body = json.dumps({"count": self.count}).encode()
            control = parse_qs(scope["query_string"].decode()).get("cc", ["public"])[0]
            headers = [(b"content-type", b"application/json"),
                       (b"cache-control", control.encode())]
            if "cookie" in control:  # ?cc=cookie: a Set-Cookie instead
                headers = [(b"content-type", b"application/json"), (b"set-cookie", b"s=1")]
        else:
            status, body = 404, b'{"error": "not found"}'
            headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_upstream() -> UpstreamApp:
    import os

    return UpstreamApp(int(os.environ.get("PERFLAB_UPSTREAM_ITEMS", "20")),
                       float(os.environ.get("PERFLAB_UPSTREAM_LATENCY_MS", "0")))
