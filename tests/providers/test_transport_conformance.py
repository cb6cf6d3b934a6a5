"""One suite that both upstream transports must pass: the lean one and httpx's own,
each built by `open_client` as `upstream.transport` asks.

What "behaves like httpx" means for the providers and their operators: spans from
OpenTelemetry's standard httpx instrumentation (the global instrumentor and
instrument_client), every httpx timeout as its httpx exception, interim 1xx answers
skipped, proxies from the environment, the caller's SSL context left as it was, pool
limits, HTTP/1.1 keep-alive, and idle connections the server closed or half-closed.

A transport's known gaps are in KNOWN_GAPS, run as strict xfails (a gap that closes
fails the suite until it is struck from the list); the default transport has none.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import httpx
import pytest
import trustme
import uvloop
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmtriage.providers.transport import LeanTransport, PoolLimits, open_client
from llmtriage.routing.config import UpstreamConfig
from tests.providers.transport_servers import (
    JSON_OK,
    After,
    RecordingServer,
    Seen,
    alpn_probe,
    chosen_alpn,
    constant,
    gated,
    never,
    serving,
    unaccepting_port,
)

TRANSPORTS = ("lean", "httpx")
KNOWN_GAPS: dict[str, dict[str, str]] = {
    "httpx": {
        "test_the_callers_ssl_context_is_left_as_it_was": (
            "httpcore sets ALPN on the SSL context it is given "
            "(httpcore/_async/connection.py: ssl_context.set_alpn_protocols)"
        ),
    },
}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
URL_PATH = "/v1/chat/completions?api-version=1"


@pytest.fixture(params=TRANSPORTS)
def kind(request: pytest.FixtureRequest) -> str:
    reason = KNOWN_GAPS.get(request.param, {}).get(request.node.originalname)
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    return str(request.param)


@pytest.fixture(autouse=True)
def no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the test's environment would turn the lean client into httpx's own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def client(
    kind: str, limits: PoolLimits | None = None, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    return open_client(limits, lean=kind == "lean", ssl_context=ssl_context)


def url(server: RecordingServer, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{URL_PATH}"


def test_each_kind_is_the_transport_it_names() -> None:
    # without this the suite could run httpx's own transport twice
    assert type(open_client(lean=True)._transport) is LeanTransport
    assert type(open_client(lean=False)._transport) is httpx.AsyncHTTPTransport


def test_the_default_transport_has_no_known_gap() -> None:
    assert UpstreamConfig().transport in TRANSPORTS
    assert not KNOWN_GAPS.get(UpstreamConfig().transport)


# ---- OpenTelemetry ---------------------------------------------------------------------


@pytest.fixture
def tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def assert_one_client_span(exporter: InMemorySpanExporter, server: RecordingServer) -> None:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1
    span: ReadableSpan = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.name == "POST"
    attributes = dict(span.attributes or {})
    assert 200 in (attributes.get("http.status_code"), attributes.get("http.response.status_code"))
    assert url(server) in (attributes.get("http.url"), attributes.get("url.full"))
    # the instrumentation also propagated the trace to the upstream
    assert span.context is not None
    traceparent = b"traceparent: 00-%032x-" % span.context.trace_id
    assert traceparent in server.seen.requests[0].lower()


async def test_the_global_instrumentor_traces_each_call(
    kind: str, tracing: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = tracing
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        async with serving(constant(JSON_OK)) as server, client(kind) as http:
            assert (await http.post(url(server), content=b"{}")).status_code == 200
    finally:
        instrumentor.uninstrument()
    assert_one_client_span(exporter, server)


async def test_instrument_client_traces_each_call(
    kind: str, tracing: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = tracing
    async with serving(constant(JSON_OK)) as server, client(kind) as http:
        HTTPXClientInstrumentor.instrument_client(http, tracer_provider=provider)
        assert (await http.post(url(server), content=b"{}")).status_code == 200
    assert_one_client_span(exporter, server)


# ---- timeouts --------------------------------------------------------------------------


async def test_connect_timeout(kind: str) -> None:
    with unaccepting_port() as port:
        async with client(kind) as http:
            with pytest.raises(httpx.ConnectTimeout):
                await http.post(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5, connect=0.2))


async def test_read_timeout(kind: str) -> None:
    async with serving(never) as server, client(kind) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(url(server), content=b"{}", timeout=httpx.Timeout(5, read=0.2))


async def test_write_timeout(kind: str) -> None:
    # the server reads the head and never the body: once the socket buffers on both
    # sides are full (a few MiB on loopback) the write cannot go on
    body = b"x" * (48 * 1024 * 1024)
    async with serving(never, read_body=False) as server, client(kind) as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(url(server), content=body, timeout=httpx.Timeout(5, write=0.3))


async def test_pool_timeout(kind: str) -> None:
    async with (
        serving(constant(JSON_OK)) as server,
        client(kind, PoolLimits(max_connections=1)) as http,
    ):
        async with http.stream("POST", url(server)) as held:  # holds the only connection
            assert held.status_code == 200
            with pytest.raises(httpx.PoolTimeout):
                await http.post(url(server), timeout=httpx.Timeout(5, pool=0.2))
        assert (await http.post(url(server))).status_code == 200  # free again


# ---- HTTP/1.1 --------------------------------------------------------------------------


async def test_interim_1xx_answers_are_skipped(kind: str) -> None:
    interim = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
    )
    async with serving(constant(interim + JSON_OK)) as server, client(kind) as http:
        for _ in range(2):
            response = await http.post(url(server), content=b"{}")
            assert response.status_code == 200
            assert response.json() == {"ok": True}
            assert "link" not in response.headers
    assert server.seen.connections == 1  # the interim answers did not break the framing


async def test_keep_alive_reuses_one_connection(kind: str) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n" b"6\r\n world\r\n" b"0\r\n\r\n"
    )  # fmt: skip
    answers = [JSON_OK, chunked] * 3

    async def answer(_: bytes) -> bytes:
        return answers.pop(0)

    async with serving(answer) as server, client(kind) as http:
        for _ in range(3):
            assert (await http.post(url(server), content=b'{"a": 1}')).json() == {"ok": True}
            async with http.stream("POST", url(server), content=b"{}") as response:
                assert b"".join([part async for part in response.aiter_bytes()]) == b"hello world"
    assert server.seen.connections == 1
    first = server.seen.requests[0].lower()
    assert first.startswith(f"post {URL_PATH} http/1.1\r\n".encode())
    assert f"\r\nhost: 127.0.0.1:{server.port}\r\n".encode() in first
    assert b"\r\ncontent-length: 8\r\n" in first and first.endswith(b'{"a": 1}')


async def test_connection_close_answer_is_not_reused(kind: str) -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    async with serving(constant(closing), after="close") as server, client(kind) as http:
        for _ in range(3):
            assert (await http.post(url(server))).text == "ok"
    assert server.seen.connections == 3


@pytest.mark.parametrize("after", ["close", "half-close"])
async def test_an_idle_connection_the_server_closed_is_replaced(kind: str, after: After) -> None:
    # the answer says nothing of closing; the server closes (or shuts down its sending
    # side) once it has answered, and the next request must go out on a new connection
    async with serving(constant(JSON_OK), after=after) as server, client(kind) as http:
        for done in (1, 2):
            assert (await http.post(url(server), content=b"{}")).json() == {"ok": True}
            await server.seen.wait_for(lambda seen, n=done: _server_done_with(seen, after, n))
    assert server.seen.request_connection == [1, 2]


def _server_done_with(seen: Seen, after: str, connections: int) -> bool:
    """The server's close reached the client (close), or its FIN did (half-close: it
    then waits for the client to close, which a transport does only when it notices)."""
    return seen.closed >= connections if after == "close" else len(seen.requests) >= connections


# ---- proxies from the environment ------------------------------------------------------


async def test_a_proxy_from_the_environment_gets_the_request(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(constant(JSON_OK)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with client(kind) as http:
            response = await http.post("http://llm.example.invalid/v1/models", content=b"{}")
        assert response.json() == {"ok": True}
    # a forward proxy gets the absolute URL in the request line
    assert proxy.seen.requests[0].startswith(b"POST http://llm.example.invalid/v1/models HTTP/1.1")


async def test_no_proxy_from_the_environment_is_honoured(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(constant(JSON_OK)) as proxy, serving(constant(JSON_OK)) as upstream:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with client(kind) as http:
            assert (await http.post(url(upstream))).json() == {"ok": True}
    assert not proxy.seen.requests
    assert len(upstream.seen.requests) == 1


# ---- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def settings(context: ssl.SSLContext) -> tuple[object, ...]:
    """What can be read back of an SSL context (ALPN cannot: see alpn_probe; nor can the
    CA list, which OpenSSL fills from the system's folder as it verifies)."""
    return (
        context.verify_mode,
        context.check_hostname,
        context.options,
        context.verify_flags,
        context.minimum_version,
        context.maximum_version,
        context.post_handshake_auth,
        [cipher["name"] for cipher in context.get_ciphers()],
    )


async def test_the_callers_ssl_context_is_left_as_it_was(kind: str, ca: trustme.CA) -> None:
    caller = ssl.create_default_context()
    ca.configure_trust(caller)
    caller.minimum_version = ssl.TLSVersion.TLSv1_3
    caller.set_alpn_protocols(["h2", "http/1.1"])  # the upstream itself offers no ALPN
    before = settings(caller)
    async with alpn_probe(["h2", "http/1.1"], server_context(ca)) as probe:
        assert await chosen_alpn(probe, caller) == "h2"  # the probe can tell
        async with (
            serving(constant(JSON_OK), tls=server_context(ca)) as server,
            client(kind, ssl_context=caller) as http,
        ):
            for _ in range(2):
                assert (await http.post(url(server, "https"))).json() == {"ok": True}
        assert server.seen.connections == 1
        assert settings(caller) == before
        assert await chosen_alpn(probe, caller) == "h2"


async def test_tls_is_verified_with_the_default_context(kind: str, ca: trustme.CA) -> None:
    async with serving(constant(JSON_OK), tls=server_context(ca)) as server, client(kind) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.post(url(server, "https"))  # the system CAs do not know this one


# ---- pool limits -----------------------------------------------------------------------


async def test_max_connections_is_honoured(kind: str) -> None:
    gate = asyncio.Event()
    async with (
        serving(gated(gate)) as server,
        client(kind, PoolLimits(max_connections=2)) as http,
    ):
        held = [asyncio.create_task(http.post(url(server))) for _ in range(2)]
        await server.seen.wait_for(lambda seen: len(seen.requests) == 2)
        with pytest.raises(httpx.PoolTimeout):
            await http.post(url(server), timeout=httpx.Timeout(5, pool=0.2))
        queued = asyncio.create_task(http.post(url(server)))
        gate.set()
        for call in [*held, queued]:
            assert (await call).status_code == 200
    assert server.seen.max_open == 2
    assert server.seen.connections == 2  # the queued call took a freed connection


async def test_max_keepalive_is_honoured(kind: str) -> None:
    gate = asyncio.Event()
    limits = PoolLimits(max_connections=10, max_keepalive=1)
    async with serving(gated(gate)) as server, client(kind, limits) as http:
        calls = [asyncio.create_task(http.post(url(server))) for _ in range(3)]
        await server.seen.wait_for(lambda seen: len(seen.requests) == 3)
        gate.set()
        for call in calls:
            assert (await call).status_code == 200
        for _ in range(2):  # both on the one connection kept
            assert (await http.post(url(server))).status_code == 200
        await server.seen.wait_for(lambda seen: seen.closed == 2)
    assert server.seen.connections == 3


# ---- the lean transport on uvloop, which the server runs ------------------------------


def test_the_lean_transport_on_uvloop(ca: trustme.CA) -> None:
    """The lean transport uses loop APIs (flow control, the socket, the SSL object)
    whose uvloop versions differ from asyncio's; the suite above runs on asyncio."""

    async def scenario() -> None:
        async with serving(constant(JSON_OK), after="half-close") as server, client("lean") as http:
            for done in (1, 2):
                assert (await http.post(url(server), content=b"{}")).json() == {"ok": True}
                await server.seen.wait_for(lambda seen, n=done: len(seen.requests) >= n)
        assert server.seen.request_connection == [1, 2]
        async with serving(never, read_body=False) as server, client("lean") as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(
                    url(server), content=b"x" * (48 << 20), timeout=httpx.Timeout(5, write=0.3)
                )
        caller = ssl.create_default_context()
        ca.configure_trust(caller)
        async with (
            serving(constant(JSON_OK), tls=server_context(ca)) as server,
            client("lean", ssl_context=caller) as http,
        ):
            for _ in range(2):
                assert (await http.post(url(server, "https"))).json() == {"ok": True}
        assert server.seen.connections == 1

    uvloop.run(scenario())


# ---- the lean transport only -----------------------------------------------------------


async def test_lean_refuses_a_server_choosing_h2_from_the_callers_alpn(ca: trustme.CA) -> None:
    # the caller's context is not narrowed to http/1.1, so the choice is checked instead
    caller = ssl.create_default_context()
    ca.configure_trust(caller)
    caller.set_alpn_protocols(["h2", "http/1.1"])
    async with alpn_probe(["h2"], server_context(ca)) as port, client("lean", None, caller) as http:
        with pytest.raises(httpx.ConnectError, match="ALPN"):
            await http.get(f"https://127.0.0.1:{port}/")
