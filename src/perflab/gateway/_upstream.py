"""`perflab gateway upstream`: a deterministic JSON service to put behind the gateway.

    GET /items            all items (a JSON list)        GET /items/{id}   one item
    GET /slow?ms=N        answers after N ms             GET /broken       200 with invalid JSON
    anything else         404

Items are fixed for a given count: responses are precomputed bytes, so the
upstream costs little next to what it serves.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["UpstreamApp", "item"]


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
        elif path == "/echo":
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = json.dumps({"received": len(b"".join(chunks))}).encode()
        else:
            status, body = 404, b'{"error": "not found"}'
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def create_upstream() -> UpstreamApp:
    import os

    return UpstreamApp(int(os.environ.get("PERFLAB_UPSTREAM_ITEMS", "20")),
                       float(os.environ.get("PERFLAB_UPSTREAM_LATENCY_MS", "0")))
