"""The upstream client's contract, run against every pool policy.

A real asyncio server on loopback answers by path; it counts the connections
it accepted and the most it had open at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from perflab.gateway._client import POOLS, Client, UpstreamError

pytestmark = pytest.mark.integration

ANSWERS = {
    b"/ok": b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            b"Content-Length: 2\r\n\r\nok",
    b"/chunked": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"2\r\nab\r\n3;ext=1\r\ncde\r\n0\r\n\r\n",
    b"/interim": b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                 b"HTTP/1.1 204 No Content\r\n\r\n",
    b"/bad": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close",
}


class Upstream:
    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.most = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.most = max(self.most, self.open)
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path == b"/hangup":  # read, then closed without a word
                    break
                await asyncio.sleep(0.02 if path == b"/ok" else 0)
                writer.write(ANSWERS[path])
                if path == b"/close" or b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


def call(client: Client, upstream, path: str, timeout: float = 2.0):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\n"
    head += "\r\n" if client.keep_alive else "Connection: close\r\n\r\n"
    client.start(upstream, head.encode(), timeout, lambda a, e: done.set_result((a, e)))
    return done


@pytest.fixture(params=list(POOLS))
def choice(request):
    return request.param


def run(choice, scenario, **policy):
    async def main():
        server = Upstream()
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = Client(replace(POOLS[choice], **policy), 1 << 20)
        upstream = client.upstream(f"http://127.0.0.1:{port}")
        try:
            await scenario(client, upstream, server)
        finally:
            await client.close()
            for writer in server.writers:
                writer.close()
            listener.close()
            await listener.wait_closed()

    asyncio.run(main())


def test_answers_keep_status_fields_and_body(choice):
    async def scenario(client, upstream, server):
        answer, exc = await call(client, upstream, "/ok")
        assert exc is None and answer.status == 200 and answer.body == b"ok"
        assert answer.headers == [(b"content-type", b"a/b"), (b"set-cookie", b"a=1"),
                                  (b"set-cookie", b"b=2"), (b"content-length", b"2")]
        answer, _ = await call(client, upstream, "/chunked")
        assert (answer.status, answer.body) == (201, b"abcde")
        answer, _ = await call(client, upstream, "/interim")
        assert (answer.status, answer.body) == (204, b"")
        answer, _ = await call(client, upstream, "/close")
        assert answer.body == b"until the close"

    run(choice, scenario)


def test_connections_reused_only_with_keep_alive(choice):
    async def scenario(client, upstream, server):
        for _ in range(3):
            _answer, exc = await call(client, upstream, "/ok")
            assert exc is None
        assert server.accepted == (1 if client.keep_alive else 3)

    run(choice, scenario)


def test_a_malformed_answer_fails_the_call_and_its_connection(choice):
    async def scenario(client, upstream, server):
        answer, exc = await call(client, upstream, "/bad")
        assert answer is None and isinstance(exc, UpstreamError)
        assert "Content-Length" in str(exc)
        answer, exc = await call(client, upstream, "/ok")
        assert exc is None and server.accepted == 2  # the broken one was not reused

    run(choice, scenario)


def test_an_idle_connection_the_upstream_closed_is_not_a_failure(choice):
    async def scenario(client, upstream, server):
        assert (await call(client, upstream, "/ok"))[1] is None
        for writer in server.writers:  # the upstream closes its idle connections
            writer.close()
        await asyncio.sleep(0.05)
        answer, exc = await call(client, upstream, "/ok")
        assert exc is None and answer.body == b"ok"

    run(choice, scenario)


def test_connections_per_upstream_are_bounded_and_calls_wait_their_turn(choice):
    async def scenario(client, upstream, server):
        results = await asyncio.gather(*(call(client, upstream, "/ok") for _ in range(6)))
        assert all(exc is None and answer.body == b"ok" for answer, exc in results)
        assert server.most <= 2

    run(choice, scenario, max_connections=2)


def test_a_call_waiting_for_a_connection_times_out_too(choice):
    async def scenario(client, upstream, server):
        calls = [call(client, upstream, "/ok", timeout=0.01 if i else 2.0) for i in range(2)]
        (first, exc0), (second, exc1) = await asyncio.gather(*calls)
        assert exc0 is None and first.body == b"ok"
        assert second is None and isinstance(exc1, TimeoutError)

    run(choice, scenario, max_connections=1)


def test_each_call_times_out_at_its_own_deadline(choice):
    """Deadlines are kept per timeout: a short one started after a long one is not held
    behind it, and a line that emptied arms its timer again for the next call."""
    async def scenario(client, upstream, server):
        loop = asyncio.get_running_loop()
        long = call(client, upstream, "/ok", timeout=2.0)  # answered after 20 ms
        started = loop.time()
        short = await asyncio.gather(*(call(client, upstream, "/ok", timeout=0.005)
                                       for _ in range(2)))
        assert all(a is None and isinstance(e, TimeoutError) for a, e in short)
        assert loop.time() - started < 1.0  # not at the 2-s call's deadline
        answer, exc = await long
        assert exc is None and answer.body == b"ok"
        answer, exc = await call(client, upstream, "/ok", timeout=0.005)
        assert answer is None and isinstance(exc, TimeoutError)

    run(choice, scenario)


def test_a_connection_closed_before_its_answer_is_never_an_answer(choice):
    """On a connection that answered before: nothing of that answer may stand in for this."""
    async def scenario(client, upstream, server):
        assert (await call(client, upstream, "/ok"))[1] is None
        answer, exc = await call(client, upstream, "/hangup")
        assert answer is None and isinstance(exc, UpstreamError)
        # Kept alive, the pooled connection's hang-up is retried once on a fresh one (the
        # call is idempotent), which hangs up too: two connections either way.
        assert server.accepted == 2

    run(choice, scenario)
