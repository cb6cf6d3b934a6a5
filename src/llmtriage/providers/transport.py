"""A lean HTTP/1.1 transport for the providers' httpx client.

httpx stays the API (requests, responses, timeouts, errors); this replaces only what
sits under it. httpcore's HTTP/1.1 path (h11 in pure Python, anyio streams, a general
connection pool) took ~0.5 ms of CPU per proxied call on the 2-core dev machine, a
quarter of the router's whole cost. Here one `asyncio.Protocol` per connection is fed
by httptools, the C parser uvicorn uses, and a small keep-alive pool hands connections
out.

It behaves like httpx's own transport where the providers and their operators can
tell (tests/providers/test_transport_conformance.py runs one suite over both):
`LeanTransport` is an `httpx.AsyncHTTPTransport` whose connection pool is replaced, so
httpx's own `handle_async_request` runs, which is what OpenTelemetry's httpx
instrumentation wraps; every httpx timeout (connect, read, write, pool) raises its
httpx exception; interim 1xx answers are skipped; an idle connection the server closed
or half-closed is not reused; a caller's SSL context is used as given, never changed.

Scope: what the providers send — requests with a bounded body (no request
streaming), answers with Content-Length, chunked or close-delimited bodies, TLS with
httpx's default verification or the caller's context. Anything else (HTTP/2, CONNECT,
upgrades) is not needed on this path; with a proxy set in the environment the client
is httpx's own (httpx honours HTTP(S)_PROXY only when it builds the transport itself).

Failures raise httpx's exception types, so `providers/http.py` translates them as
before. A connection is reused only after its response was read to the end; a body
closed early, a cancelled call or an error drops it.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import select
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import httptools
import httpx

if TYPE_CHECKING:
    import httpcore

_READ_PAUSE_BYTES = 256 * 1024  # stop reading the socket when this much body is unread
_WRITE_CHUNK = 64 * 1024  # a larger body goes out in pieces, each under the write timeout
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
        self._write_paused = False  # the socket's send buffer is full (asyncio flow control)
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_done = False
        self._interim = False  # inside a 1xx answer, which precedes the real one
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
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols (not HTTP/1.1)"))
            self.close()
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

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # 100 Continue, 103 Early Hints: skipped, as httpcore does; the real answer follows
            self._interim = True
            self._headers, self._framed = [], False
            return
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
        if self._interim:
            self._interim = False
            return
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

    def readable(self) -> bool:
        """Bytes or an EOF wait on this idle connection: the server closed or half-closed
        it (or sent something unasked), maybe before the event loop has seen it."""
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is None or sock.fileno() < 0:
            return True
        poller = select.poll()  # not select.select: descriptors may be above FD_SETSIZE
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    async def send(self, head: bytes, body: bytes, timeout: float | None) -> None:
        """Write one request; waits only while the socket's send buffer is full."""
        if self._paused and self.transport is not None:
            # the previous body arrived whole but was closed unread while paused
            self.transport.resume_reading()
        self._reset()
        assert self.transport is not None
        if len(body) < _WRITE_CHUNK:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            view = memoryview(body)
            for start in range(0, len(body), _WRITE_CHUNK):
                await self._writable(timeout)
                self.transport.write(view[start : start + _WRITE_CHUNK])
        await self._writable(timeout)

    async def read_head(self, timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        while not self._head_done:
            await self._wait(timeout, httpx.ReadTimeout)
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
                await self._wait(timeout, httpx.ReadTimeout)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def _writable(self, timeout: float | None) -> None:
        while self._write_paused:
            await self._wait(timeout, httpx.WriteTimeout)

    async def _wait(self, timeout: float | None, expired: type[httpx.TimeoutException]) -> None:
        if self.lost is not None:
            raise self.lost
        if self.closed:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError as exc:
            raise expired(f"timed out waiting for the server ({expired.__name__})") from exc
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


class _Body:
    """The response body (an httpcore-style stream: httpx wraps it); at its end the
    connection goes back to the pool."""

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


@dataclass(slots=True)
class _Answer:
    """The parts of an httpcore.Response that httpx's transport reads."""

    status: int
    headers: list[tuple[bytes, bytes]]
    stream: _Body
    extensions: dict[str, Any]


class _Exchanges:
    """Sits where httpx's transport keeps its httpcore pool (`_pool`): httpx's own
    `handle_async_request` turns the request into an httpcore one and calls this."""

    def __init__(self, transport: LeanTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpcore.Request) -> _Answer:
        return await self._transport.exchange(request)


class LeanTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self, limits: PoolLimits | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        # httpx's __init__ is not called: it would build an httpcore pool (and load the CA
        # bundle) only for it to be replaced. Its handle_async_request uses only `_pool`.
        self.limits = limits or PoolLimits()
        self._ssl = ssl_context  # the caller's, used as given
        self._own_ssl: ssl.SSLContext | None = None
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(self.limits.max_connections)
        self._pool = _Exchanges(self)  # type: ignore[assignment]  # httpx types it as httpcore's

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def exchange(self, request: httpcore.Request) -> _Answer:
        """Send one request on a pooled connection and return once its head is read."""
        url = request.url
        scheme = url.scheme.decode("ascii")
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        timeouts = request.extensions.get("timeout", {})
        body = await _whole_body(request.stream)
        head = _request_head(request.method, url.target, request.headers)
        port = url.port or (443 if scheme == "https" else 80)
        key: PoolKey = (scheme, url.host.decode("ascii"), port)
        conn = await self._acquire(key, timeouts.get("pool"), timeouts.get("connect"))
        try:
            await conn.send(head, body, timeouts.get("write"))
            status, headers = await conn.read_head(timeouts.get("read"))
        except BaseException:
            self._drop(conn)
            raise
        stream = _Body(self, conn, timeouts.get("read"))
        return _Answer(status, headers, stream, {"http_version": b"HTTP/1.1"})

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
        context = self._tls_context() if scheme == "https" else None
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
        if context is not None:
            _require_http11(conn)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl is not None:
            return self._ssl
        if self._own_ssl is None:
            # Only on a context of our own: ALPN tells a server that also speaks h2 to
            # answer in HTTP/1.1.
            self._own_ssl = httpx.create_ssl_context()
            self._own_ssl.set_alpn_protocols(["http/1.1"])
        return self._own_ssl

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
        return (
            conn.reusable
            and now - conn.idle_since < self.limits.keepalive_expiry_s
            and not conn.readable()
        )


def _require_http11(conn: _Connection) -> None:
    """A caller's SSL context may offer h2 by ALPN; it is not changed, so a server that
    picks anything but HTTP/1.1 is refused here rather than misread."""
    assert conn.transport is not None
    ssl_object = conn.transport.get_extra_info("ssl_object")
    chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
    if chosen not in (None, "http/1.1"):
        conn.close()
        raise httpx.ConnectError(
            f"the server chose {chosen!r} by ALPN; this transport speaks HTTP/1.1 only "
            "(offer only http/1.1 in the SSL context, or use upstream.transport: httpx)"
        )


async def _whole_body(stream: Iterable[bytes] | AsyncIterable[bytes]) -> bytes:
    if isinstance(stream, AsyncIterable):
        return b"".join([part async for part in stream])
    return b"".join(stream)


def _request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (method, target)]  # target: path and query, percent-encoded
    lines.extend(b"%s: %s" % (name, value) for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def open_client(
    limits: PoolLimits | None = None,
    *,
    lean: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The providers' client, keeping no cookies: over the lean transport, or httpx's
    own when `lean` is off or a proxy is set in the environment (HTTP_PROXY, ...).
    `ssl_context` (default: httpx's verification) is used as given, by either."""
    limits = limits or PoolLimits()
    if lean and not _environment_proxies():
        transport = LeanTransport(limits, ssl_context=ssl_context)
        return httpx.AsyncClient(transport=transport, cookies=_NoCookieJar())
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive,
            keepalive_expiry=limits.keepalive_expiry_s,
        ),
        verify=ssl_context if ssl_context is not None else True,
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
