"""The lean HTTP/1.1 transport against raw servers on loopback that answer byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from llmtriage.providers.transport import LeanTransport, PoolLimits, open_client

Answer = Callable[[bytes], Awaitable[bytes | None]]  # request head+body -> raw answer (None: close)
JSON_OK = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
)


class RawServer:
    """Reads one request at a time per connection (head + Content-Length body) and
    writes whatever `answer` returns; counts connections and requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                raw = await self.answer(request)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[RawServer]:
    server = RawServer(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


def constant(raw: bytes) -> Answer:
    async def answer(_: bytes) -> bytes:
        return raw

    return answer


async def test_keep_alive_reuses_one_connection() -> None:
    async with raw_server(constant(JSON_OK)) as server, open_client() as client:
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions?x=1"
        for _ in range(5):
            response = await client.post(url, content=b'{"a": 1}')
            assert response.status_code == 200
            assert response.json() == {"ok": True}
    assert server.connections == 1
    assert len(server.requests) == 5
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert b"\r\ncontent-length: 8\r\n" in first.lower() and first.endswith(b'{"a": 1}')
    assert f"host: 127.0.0.1:{server.port}".encode() in first.lower()


async def test_chunked_answer_streams_in_pieces() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        b"6\r\ndata: \r\n" b"3\r\none\r\n" b"2\r\n\n\n\r\n" b"0\r\n\r\n"
    )  # fmt: skip
    async with raw_server(constant(raw)) as server, open_client() as client:
        for _ in range(2):
            async with client.stream("POST", f"http://127.0.0.1:{server.port}/s") as response:
                pieces = [piece async for piece in response.aiter_raw()]
            assert b"".join(pieces) == b"data: one\n\n"
            assert len(pieces) >= 1
    assert server.connections == 1  # read to the end: reused


@asynccontextmanager
async def answer_then_close(raw: bytes) -> AsyncIterator[int]:
    """A server that reads one request head, writes `raw` and closes; yields its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()


async def test_close_delimited_body_ends_with_the_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end"
    async with answer_then_close(raw) as port, open_client() as client:
        response = await client.get(f"http://127.0.0.1:{port}/")
        assert response.text == "until the end"
        transport = client._transport
        assert isinstance(transport, LeanTransport)
        assert not transport._idle.get(("http", "127.0.0.1", port))  # not reusable


async def test_server_closing_an_idle_connection_is_noticed() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    async with raw_server(constant(closing)) as server, open_client() as client:
        for _ in range(3):
            assert (await client.post(f"http://127.0.0.1:{server.port}/", content=b"")).text == "ok"
    assert server.connections == 3


async def test_body_closed_early_drops_the_connection() -> None:
    answers = [b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nonly the start", JSON_OK]

    async def answer(_: bytes) -> bytes:
        return answers.pop(0)  # the first body never ends: its connection is unusable

    async with raw_server(answer) as server, open_client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        async with client.stream("POST", url) as response:
            async for _ in response.aiter_raw():
                break  # stop reading: the rest of the body is still owed
        assert (await client.post(url)).json() == {"ok": True}
    assert server.connections == 2


async def test_large_body_closed_unread_leaves_a_working_connection() -> None:
    # the whole body arrives while reading is paused (more than 256 KiB unread); closing
    # the stream then pools a complete connection, which must read the next answer
    body = b"x" * (300 * 1024)
    big = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    answers = [big, JSON_OK]

    async def answer(_: bytes) -> bytes:
        return answers.pop(0)

    async with raw_server(answer) as server, open_client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        async with client.stream("GET", url):
            await asyncio.sleep(0.2)  # let the rest arrive; read none of it
        second = await client.get(url, timeout=httpx.Timeout(2.0))
        assert second.json() == {"ok": True}
    assert server.connections == 1


async def test_dead_idle_connections_do_not_fill_the_keep_alive_quota() -> None:
    # origin A closes its connection right after answering; with room for one idle
    # connection, B's must still be kept (and reused) rather than A's dead one
    async with (
        answer_then_close(JSON_OK) as port_a,
        raw_server(constant(JSON_OK)) as server_b,
        httpx.AsyncClient(transport=LeanTransport(PoolLimits(max_keepalive=1))) as client,
    ):
        assert (await client.get(f"http://127.0.0.1:{port_a}/")).status_code == 200
        await asyncio.sleep(0.1)  # A's close reaches the idle connection
        for _ in range(3):
            assert (await client.get(f"http://127.0.0.1:{server_b.port}/")).status_code == 200
    assert server_b.connections == 1


async def test_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with raw_server(constant(JSON_OK)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with open_client() as client:
            response = await client.get("http://llm.example.invalid/v1/models")
        assert response.json() == {"ok": True}
    # a forward proxy gets the absolute URL in the request line
    assert proxy.requests[0].startswith(b"GET http://llm.example.invalid/v1/models HTTP/1.1")


async def test_read_timeout_is_httpx_read_timeout() -> None:
    async def never(_: bytes) -> bytes:
        await asyncio.sleep(30)
        return JSON_OK

    async with raw_server(never) as server, open_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"http://127.0.0.1:{server.port}/", timeout=httpx.Timeout(0.2))


async def test_refused_connection_is_connect_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with open_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\ncut short",  # then the server closes
    ],
)
async def test_broken_answers_are_protocol_errors(raw: bytes) -> None:
    async with answer_then_close(raw) as port, open_client() as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_pool_limit_queues_then_times_out() -> None:
    gate = asyncio.Event()

    async def slow(_: bytes) -> bytes:
        await gate.wait()
        return JSON_OK

    async with (
        raw_server(slow) as server,
        httpx.AsyncClient(transport=LeanTransport(PoolLimits(max_connections=1))) as client,
    ):
        url = f"http://127.0.0.1:{server.port}/"
        first = asyncio.create_task(client.post(url))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await client.post(url, timeout=httpx.Timeout(5.0, pool=0.1))
        queued = asyncio.create_task(client.post(url))
        await asyncio.sleep(0.05)
        gate.set()
        assert (await first).status_code == 200
        assert (await queued).status_code == 200
    assert server.connections == 1  # the queued call took the freed connection


@pytest.mark.parametrize("lean", [True, False])
async def test_upstream_cookies_are_not_kept(lean: bool) -> None:
    raw = b"HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/\r\ncontent-length: 2\r\n\r\nok"
    async with raw_server(constant(raw)) as server, open_client(lean=lean) as client:
        for _ in range(2):
            await client.post(f"http://127.0.0.1:{server.port}/")
        assert not client.cookies
    assert all(b"cookie" not in request.lower() for request in server.requests)


async def test_tls_with_verification() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = RawServer(constant(JSON_OK))
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_context)
    port = listener.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    try:
        transport = LeanTransport(ssl_context=trusting)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(2):
                assert (await client.post(f"https://127.0.0.1:{port}/")).json() == {"ok": True}
        async with open_client() as untrusting:  # system CAs do not know this one
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.post(f"https://127.0.0.1:{port}/")
    finally:
        listener.close()
    assert server.connections == 1  # kept alive; the refused handshake never reached the handler


def test_upstream_config_picks_the_transport() -> None:
    from llmtriage.routing.config import UpstreamConfig
    from llmtriage.service import upstream_client

    lean = upstream_client(UpstreamConfig())
    plain = upstream_client(UpstreamConfig(transport="httpx"))
    assert isinstance(lean._transport, LeanTransport)
    assert isinstance(plain._transport, httpx.AsyncHTTPTransport)
