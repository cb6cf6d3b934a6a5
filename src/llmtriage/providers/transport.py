"""A lean HTTP/1.1 transport for the providers' httpx client.

httpx stays the API (requests, responses, timeouts, errors); this replaces only what
sits under it. httpcore's HTTP/1.1 path (h11 in pure Python, anyio streams, a general
connection pool) took ~0.5 ms of CPU per proxied call on the 2-core dev machine, a
quarter of the router's whole cost. Here one `asyncio.Protocol` per connection is fed
by httptools, the C parser uvicorn uses, and a small keep-alive pool hands connections
out.

Scope: what the providers send — requests with a bounded body (no request
streaming), answers with Content-Length, chunked or close-delimited bodies, TLS with
httpx's default verification. Anything else (HTTP/2, CONNECT, upgrades) is not
needed on this path; with a proxy set in the environment the client is httpx's own
(httpx honours HTTP(S)_PROXY only when it builds the transport itself).

Failures raise httpx's exception types, so `providers/http.py` translates them as
before. A connection is reused only after its response was read to the end; a body
closed early, a cancelled call or an error drops it.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import httptools
import httpx

_READ_PAUSE_BYTES = 256 * 1024  # stop reading the socket when this much body is unread
PoolKey = tuple[str, str, int]


@dataclass(frozen=True)
class PoolLimits:
    max_connections: int = 1000
    max_keepalive: int = 200  # idle connections kept, all origins together
    # Below the servers' idle timeouts (uvicorn, hence vLLM: 5 s), so that a kept
    # connection is not closed by the server just as a request goes out on it.
    keepalive_expiry_s: float = 4.0


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes requests, parses answers with httptools."""

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.lost: BaseException | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_done = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._complete = False
        self._framed = False  # Content-Length or chunked: the body has an end of its own
        self._paused = False
        self._keep_alive = False
        self._waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's does not subclass it

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response from the server: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._head_done and not self._complete and not self._framed:
            self._complete = True  # a close-delimited body ends with the connection
            self._wake()
        else:
            self._fail(httpx.ReadError("the server closed the connection") if exc else None)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._head_done = True
        # Asked here: llhttp forgets the answer once the message is complete.
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_PAUSE_BYTES and self.transport and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake()

    # used by the transport
    @property
    def reusable(self) -> bool:
        return (
            not self.closed
            and self.lost is None
            and self._complete
            and self._keep_alive
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def start(self, head: bytes, body: bytes) -> None:
        if self._paused and self.transport is not None:
            # the previous body arrived whole but was closed unread while paused
            self.transport.resume_reading()
        self._reset()
        assert self.transport is not None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def read_head(self, timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        while not self._head_done:
            await self._wait(timeout)
        return self._parser.get_status_code(), self._headers

    async def read_body(self, timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            if self._body:
                chunk = self._body.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _READ_PAUSE_BYTES // 2 and self.transport:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            elif self._complete:
                return
            else:
                await self._wait(timeout)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def _wait(self, timeout: float | None) -> None:
        if self.lost is not None:
            raise self.lost
        if self.closed:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the server") from exc
        finally:
            self._waiter = None
        if self.lost is not None:
            raise self.lost

    def _fail(self, exc: BaseException | None) -> None:
        self.lost = exc or httpx.RemoteProtocolError(
            "Server disconnected without sending a complete response."
        )
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Body(httpx.AsyncByteStream):
    """The response body; at its end the connection goes back to the pool."""

    def __init__(self, pool: LeanTransport, conn: _Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._conn.read_body(self._timeout):
                yield chunk
        except BaseException:
            self._finish()
            raise
        self._finish()

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._pool.release(self._conn)


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, limits: PoolLimits | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.limits = limits or PoolLimits()
        self._ssl = ssl_context
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(self.limits.max_connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request)
        key: PoolKey = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        conn = await self._acquire(key, timeouts.get("pool"), timeouts.get("connect"))
        try:
            conn.start(head, body)
            status, headers = await conn.read_head(timeouts.get("read"))
        except BaseException:
            self._drop(conn)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def release(self, conn: _Connection) -> None:
        """A response is finished with: keep its connection if it can serve another."""
        if conn.reusable and self._idle_count() >= self.limits.max_keepalive:
            self._sweep()  # idle ones the server closed or that expired must not count
        if conn.reusable and self._idle_count() < self.limits.max_keepalive:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.key, []).append(conn)
            self._slots.release()
        else:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._slots.release()

    async def _acquire(
        self, key: PoolKey, pool_timeout: float | None, connect_timeout: float | None
    ) -> _Connection:
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection free in the pool") from exc
        now = time.monotonic()
        idle = self._idle.get(key, [])
        while idle:
            conn = idle.pop()  # most recently used first: least likely closed by the server
            if self._fresh(conn, now):
                return conn
            conn.close()
        try:
            return await self._connect(key, connect_timeout)
        except BaseException:
            self._slots.release()
            raise

    async def _connect(self, key: PoolKey, timeout: float | None) -> _Connection:
        scheme, host, port = key
        context = None
        if scheme == "https":
            context = self._ssl or httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(key),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return conn

    def _idle_count(self) -> int:
        return sum(len(conns) for conns in self._idle.values())

    def _sweep(self) -> None:
        now = time.monotonic()
        for key, conns in list(self._idle.items()):
            keep = [c for c in conns if self._fresh(c, now)]
            for conn in set(conns) - set(keep):
                conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    def _fresh(self, conn: _Connection, now: float) -> bool:
        return conn.reusable and now - conn.idle_since < self.limits.keepalive_expiry_s


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path  # path and query, already percent-encoded
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), target)]
    lines.extend(b"%s: %s" % (name, value) for name, value in request.headers.raw)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def open_client(limits: PoolLimits | None = None, *, lean: bool = True) -> httpx.AsyncClient:
    """The providers' client, keeping no cookies: over the lean transport, or httpx's
    own when `lean` is off or a proxy is set in the environment (HTTP_PROXY, ...)."""
    limits = limits or PoolLimits()
    if lean and not _environment_proxies():
        return httpx.AsyncClient(transport=LeanTransport(limits), cookies=_NoCookieJar())
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive,
            keepalive_expiry=limits.keepalive_expiry_s,
        ),
        cookies=_NoCookieJar(),
    )


def _environment_proxies() -> bool:
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class _NoCookieJar(http.cookiejar.CookieJar):
    """Keeps nothing: an upstream's Set-Cookie must not ride along on later calls made
    for other clients of the proxy."""

    def extract_cookies(self, response: object, request: object) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None
