"""The gateway as an ASGI application, for uvicorn (the ladder's first steps).

The adapter between uvicorn's dicts and the gateway's interface: the scope
becomes a `Request` (`Gateway.prepare`), the body is gathered in a buffer from
the gateway's `Buffers`, and the answer, which the gateway gives through a
callback, is awaited as a future. The limits uvicorn enforces itself (its
connection limit, keep-alive timeout, graceful shutdown) are set from the
config in `_serve`. What uvicorn does not give the app, the gateway cannot do
here: the authority of an absolute-form target (uvicorn passes its path only),
and a head deadline (uvicorn has none). A request the gateway refuses is
answered with `Connection: close`, which uvicorn honours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from perflab.gateway._app import MAX_HEADER_BYTES, App, Response, create_app
from perflab.gateway._proxy import BadRequest

__all__ = ["AsgiGateway", "create_asgi"]

Receive = Callable[[], Awaitable[dict[str, Any]]]


class AsgiGateway:
    def __init__(self, gateway: App) -> None:
        self.gateway = gateway

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]  # lower-case names already
        index = dict(headers)
        target = scope.get("raw_path") or scope["path"].encode("latin-1")
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        client = scope["client"][0].encode("latin-1") if scope.get("client") else b"-"
        resp, request_id, close = await self._answer(scope, receive, target, headers, index,
                                                     client)
        fields = [*resp.headers, (b"x-request-id", request_id)]
        if close:  # a refused request: uvicorn closes the connection after this answer
            fields.append((b"connection", b"close"))
        if resp.status not in (204, 304):  # with its length no chunked framing; a HEAD keeps it
            fields.append((b"content-length", b"%d" % len(resp.body)))
        await send({"type": "http.response.start", "status": resp.status, "headers": fields})
        await send({"type": "http.response.body", "body": resp.body})

    async def _answer(self, scope: dict[str, Any], receive: Receive, target: bytes,
                      headers: list[tuple[bytes, bytes]], index: dict[bytes, bytes],
                      client: bytes) -> tuple[Response, bytes, bool]:
        gateway = self.gateway
        limit = gateway.config.max_body
        if sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
            return (*gateway.refuse(None, 431, f"request headers larger than "
                                    f"{MAX_HEADER_BYTES} bytes", client), True)
        declared = index.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            return (*gateway.refuse(None, 413, f"request body larger than {limit} bytes",
                                    client), True)
        body = await self._read_body(receive, limit)
        if body is None:
            return (*gateway.refuse(None, 413, f"request body larger than {limit} bytes",
                                    client), True)
        try:
            req = gateway.prepare(scope["method"].encode("latin-1"), target, headers, index,
                                  body, client, scope.get("http_version") == "1.0")
        except BadRequest as exc:
            return (*gateway.refuse(None, exc.status, f"bad request: {exc}", client), True)
        answered: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        req.reply = answered.set_result
        gateway.handle(req)
        return await answered, req.id, False

    async def _read_body(self, receive: Receive, limit: int) -> bytes | None:
        """The whole request body, or None when it exceeds `limit`."""
        buffers = self.gateway.buffers
        buf = buffers.take()
        try:
            while True:
                message = await receive()
                buf += message.get("body", b"")
                if len(buf) > limit:
                    return None
                if not message.get("more_body"):
                    return bytes(buf)
        finally:
            buffers.give(buf)

    async def _lifespan(self, receive: Receive, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.gateway.start(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_asgi() -> AsgiGateway:
    """The factory uvicorn imports in each worker."""
    return AsgiGateway(create_app())
