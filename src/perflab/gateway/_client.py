"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the gateway's upstream calls.

Beyond the guide: aiohttp's client is general (redirects, cookies, tracing,
multidicts per response); the gateway needs one request shape against a few
known upstreams. This does only that: a bounded pool of idle connections per
host, Content-Length or chunked bodies, `Connection: close` honoured, and one
retry on a fresh connection when a pooled one turns out to be dead (the
upstream restarted, or closed it while idle).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["RawPool", "UpstreamError"]

MAX_HEAD_BYTES = 64 << 10  # status line + headers of an upstream answer


class UpstreamError(Exception):
    """The upstream could not be reached or answered something that is not HTTP/1.1."""


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawPool:
    def __init__(self, max_idle: int, max_body: int) -> None:
        self.max_idle = max_idle  # per host: a bound on sockets kept open
        self.max_body = max_body
        self.idle: dict[tuple[str, int], list[Connection]] = {}

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> tuple[int, str, bytes]:
        """(status, content type, body); TimeoutError past `timeout`, else UpstreamError."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        async with asyncio.timeout(timeout):
            pooled = self.idle.get((host, port))
            if pooled:
                conn = pooled.pop()
                try:
                    return await self._exchange(conn, (host, port), request)
                except UpstreamError:
                    pass  # a dead pooled connection: once more on a fresh one
            try:
                conn = await asyncio.open_connection(host, port, limit=MAX_HEAD_BYTES)
            except OSError as exc:
                raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from exc
            return await self._exchange(conn, (host, port), request)

    async def _exchange(self, conn: Connection, key: tuple[str, int],
                        request: bytes) -> tuple[int, str, bytes]:
        reader, writer = conn
        reusable = False
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if b"content-length" in headers:
                size = int(headers[b"content-length"])
                if size > self.max_body:
                    raise UpstreamError("upstream response too large")
                data = await reader.readexactly(size)
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                chunks, total = [], 0
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    total += size
                    if total > self.max_body:
                        raise UpstreamError("upstream response too large")
                    chunks.append(await reader.readexactly(size + 2))
                    if size == 0:
                        break
                data = b"".join(c[:-2] for c in chunks)
            else:  # delimited by close
                data = await reader.read(self.max_body + 1)
                if len(data) > self.max_body:
                    raise UpstreamError("upstream response too large")
                headers[b"connection"] = b"close"
            reusable = headers.get(b"connection", b"").lower() != b"close"
            content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
            return status, content_type, data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            raise UpstreamError(f"bad answer: {type(exc).__name__}") from exc
        finally:
            idle = self.idle.setdefault(key, [])
            if reusable and len(idle) < self.max_idle:
                idle.append(conn)
            else:
                writer.close()

    async def close(self) -> None:
        for conns in self.idle.values():
            for _, writer in conns:
                writer.close()
        self.idle.clear()
