"""Loopback servers for the transport conformance suite: each answers byte for byte and
records what it saw (requests, connections, closes), so that a test can tell what a
client transport did on the wire."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

Answer = Callable[[bytes], Awaitable[bytes | None]]  # request -> raw answer (None: close)
After = Literal["keep", "close", "half-close"]  # what the server does once it has answered

JSON_OK = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
)


def constant(raw: bytes) -> Answer:
    async def answer(_: bytes) -> bytes:
        return raw

    return answer


def gated(gate: asyncio.Event, raw: bytes = JSON_OK) -> Answer:
    """Answers `raw` once `gate` is set."""

    async def answer(_: bytes) -> bytes:
        await gate.wait()
        return raw

    return answer


async def never(_: bytes) -> bytes:
    await asyncio.Event().wait()  # nothing sets it: the answer never comes
    raise AssertionError("unreachable")


@dataclass
class Seen:
    """What a server saw; `wait_for` blocks until a condition on it holds."""

    requests: list[bytes] = field(default_factory=list)
    request_connection: list[int] = field(default_factory=list)  # connection of each request
    connections: int = 0
    open: int = 0
    max_open: int = 0
    closed: int = 0  # connections closed (either side)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, ready: Callable[[Seen], bool], within_s: float = 5.0) -> None:
        """A safety bound, not a measurement: the event comes at once or never."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: ready(self))

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class RecordingServer:
    """Reads one request at a time per connection (head, then its Content-Length body
    unless `read_body` is off) and writes what `answer` returns, then does `after`."""

    def __init__(self, answer: Answer, *, after: After = "keep", read_body: bool = True) -> None:
        self.answer = answer
        self.after = after
        self.read_body = read_body
        self.seen = Seen()
        self.port = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        seen = self.seen
        seen.connections += 1
        number = seen.connections
        seen.open += 1
        seen.max_open = max(seen.max_open, seen.open)
        await seen.changed()
        try:
            while await self._exchange(reader, writer, number):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # `serving` stopping the server; ending quietly keeps asyncio from logging it
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            seen.open -= 1
            seen.closed += 1
            await seen.changed()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> bool:
        """One request and its answer; False when the connection is to end."""
        request = await reader.readuntil(b"\r\n\r\n")
        if self.read_body:
            request += await reader.readexactly(_content_length(request))
        self.seen.requests.append(request)
        self.seen.request_connection.append(number)
        await self.seen.changed()
        raw = await self.answer(request)
        if raw is None:
            return False
        writer.write(raw)
        await writer.drain()
        if self.after == "half-close":
            writer.write_eof()  # FIN sent; the server still reads until the client closes
            await reader.read()
            return False
        return self.after == "keep"


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@asynccontextmanager
async def serving(
    answer: Answer,
    *,
    after: After = "keep",
    read_body: bool = True,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RecordingServer]:
    server = RecordingServer(answer, after=after, read_body=read_body)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for handler in server.handlers:
            handler.cancel()
        await asyncio.gather(*server.handlers)


@contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full: the kernel
    drops further SYNs, so connecting to it hangs until the client gives up."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        while True:  # fill the queue until a connection no longer completes
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break
            if len(fillers) > 64:
                raise RuntimeError("the accept queue never filled up")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@asynccontextmanager
async def alpn_probe(protocols: list[str], tls: ssl.SSLContext) -> AsyncIterator[int]:
    """A TLS server that picks from `protocols` by ALPN and only handshakes: with
    `chosen_alpn` it shows what a client context offers."""
    tls.set_alpn_protocols(protocols)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()


async def chosen_alpn(port: int, context: ssl.SSLContext) -> str | None:
    """The protocol a probe server picks from what `context` offers."""
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
    )
    chosen: str | None = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    writer.close()
    return chosen
