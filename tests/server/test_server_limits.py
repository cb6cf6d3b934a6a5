"""Slow clients and the connection cap, over real HTTP on loopback, with `llmtriage
serve`'s uvicorn options (server/protocol.py), both HTTP/1.1 parsers; and the per-key
rate limit (server/ratelimit.py).

Bounded: timeouts of a fraction of a second, every socket read limited.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmtriage.server import protocol
from llmtriage.server.app import create_service
from llmtriage.server.ratelimit import TokenBucket
from llmtriage.server.settings import ServeSettings
from llmtriage.store.keys import KeySpace
from llmtriage.store.memory import MemoryStore
from tests.server.helpers import assert_openai_error, serve
from tests.server.loopback import Loopback, head, trickle

HEAD_S, BODY_S, KEEPALIVE_S = 0.5, 0.6, 0.4
SLACK_S = 0.6  # timer granularity and a loaded 2-core machine
PROTOCOLS = [protocol.H11, protocol.HTTPTOOLS]


def _settings(tiny_artifact: Path, **extra: Any) -> ServeSettings:
    values: dict[str, Any] = {
        "model": tiny_artifact,
        "header_timeout_s": HEAD_S,
        "body_timeout_s": BODY_S,
        "keepalive_timeout_s": KEEPALIVE_S,
    }
    return ServeSettings(**(values | extra))


@pytest.fixture(params=PROTOCOLS, ids=["h11", "httptools"])
def server(request: pytest.FixtureRequest, tiny_artifact: Path) -> Iterator[Loopback]:
    settings = _settings(tiny_artifact)
    with Loopback(create_service(settings, env={}), settings, http=request.param) as running:
        yield running


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _error_code(raw: bytes) -> str:
    code: str = json.loads(raw.split(b"\r\n\r\n", 1)[1])["error"]["code"]
    return code


def _closed(metrics: str) -> dict[str, float]:
    found = {}
    for line in metrics.splitlines():
        if line.startswith("llmtriage_connections_closed_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            found[reason] = float(line.rsplit(" ", 1)[1])
    return found


def test_slow_and_idle_connections_are_closed_within_the_timeouts(server: Loopback) -> None:
    # Nothing sent: closed after header_timeout_s, without an answer.
    with server.connect() as sock:
        took, got, closed = trickle(sock, b"", every_s=0.05, limit_s=HEAD_S + 3)
    assert closed and got == b"" and HEAD_S - 0.05 <= took <= HEAD_S + SLACK_S

    # A head sent a byte every 50 ms (each byte would reset an idle timer): 408.
    slow_head = b"POST /v1/score HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
    with server.connect() as sock:
        took, got, closed = trickle(sock, slow_head, every_s=0.05, limit_s=HEAD_S + 3)
    assert closed and _status(got) == 408 and _error_code(got) == "header_timeout"
    assert took <= HEAD_S + SLACK_S

    # A complete head, then the body a byte every 50 ms: 408 after body_timeout_s.
    body = b'{"prompt": "' + b"a" * 200 + b'"}'
    with server.connect() as sock:
        sock.sendall(head("/v1/score", len(body)))
        took, got, closed = trickle(sock, body, every_s=0.05, limit_s=BODY_S + 3)
    assert closed and _status(got) == 408 and _error_code(got) == "body_timeout"
    assert BODY_S - 0.05 <= took <= BODY_S + SLACK_S

    # A complete request, then silence: kept alive keepalive_timeout_s, then closed.
    small = b'{"prompt": "hello"}'
    with server.connect() as sock:
        sock.sendall(head("/v1/score", len(small)) + small)
        took, got, closed = trickle(sock, b"", every_s=0.05, limit_s=KEEPALIVE_S + 3)
    assert closed and _status(got) == 200
    assert took <= KEEPALIVE_S + SLACK_S

    # A malformed request: the parser's 400, in the error shape.
    with server.connect() as sock:
        took, got, closed = trickle(sock, b"NOT HTTP AT ALL\r\n\r\n" * 4, every_s=0, limit_s=3)
    assert closed and _status(got) == 400 and _error_code(got) == "invalid_http"

    closes = _closed(httpx.get(f"{server.url}/metrics").text)
    for reason in ("idle", "header_timeout", "body_timeout", "keepalive", "invalid_http"):
        assert closes.get(reason, 0) >= 1, closes


def test_normal_requests_keep_their_latency_under_a_slow_loris(server: Loopback) -> None:
    def latencies(n: int) -> list[float]:
        out = []
        with httpx.Client(base_url=server.url, timeout=5) as client:
            for i in range(n):
                started = time.perf_counter()
                response = client.post("/v1/score", json={"prompt": f"hello {i}"})
                out.append(time.perf_counter() - started)
                assert response.status_code == 200
        return out

    baseline = statistics.median(latencies(20))
    stop = threading.Event()
    outcomes: list[bool] = []

    def loris() -> None:
        while not stop.is_set():
            with server.connect() as sock:
                _, _, closed = trickle(
                    sock, b"POST /v1/score HTTP/1.1\r\n" + b"X" * 500, every_s=0.05, limit_s=3
                )
                outcomes.append(closed)

    threads = [threading.Thread(target=loris, daemon=True) for _ in range(20)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)  # every loris connected
        loaded = latencies(30)
        time.sleep(HEAD_S + SLACK_S)  # the first wave has been cut off
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert outcomes and all(outcomes)  # every slow connection was closed by the server
    assert statistics.median(loaded) <= 3 * baseline + 0.02, (baseline, loaded)
    assert max(loaded) < 0.5, loaded


@pytest.mark.parametrize("http", PROTOCOLS, ids=["h11", "httptools"])
def test_connections_over_the_cap_are_answered_503(tiny_artifact: Path, http: str) -> None:
    settings = _settings(
        tiny_artifact, max_connections=3, header_timeout_s=5.0, keepalive_timeout_s=5.0
    )
    with Loopback(create_service(settings, env={}), settings, http=http) as server:
        held = [server.connect() for _ in range(2)]  # with the next one: 3 open
        try:
            time.sleep(0.1)
            with server.connect() as third:
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                _, got, _ = trickle(third, b"", every_s=0.05, limit_s=0.5)
                assert _status(got) == 200
                with server.connect() as fourth:
                    _, got, closed = trickle(fourth, b"", every_s=0.05, limit_s=2)
                    assert closed and _status(got) == 503
                    assert _error_code(got) == "too_many_connections"
                metrics = third
                metrics.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                _, text, _ = trickle(metrics, b"", every_s=0.05, limit_s=0.5)
        finally:
            for sock in held:
                sock.close()
    body = text.decode()
    assert 'llmtriage_connections_closed_total{reason="limit"} 1.0' in body
    assert "llmtriage_connections_open 3.0" in body


CLIENT_A, CLIENT_B = "rate-key-a", "rate-key-b"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize("fast_score_path", [True, False], ids=["fast-path", "fastapi"])
async def test_rate_limit_per_key(tiny_artifact: Path, fast_score_path: bool) -> None:
    settings = ServeSettings(
        model=tiny_artifact,
        client_key_hashes=[_digest(CLIENT_A), _digest(CLIENT_B)],
        rate_limit_rps=0.5,  # a token back every 2 s: none during the test
        rate_limit_burst=3,
        fast_score_path=fast_score_path,
        auth={"metrics": "open"},
    )
    app = create_service(settings, env={})
    body = {"prompt": "hello"}
    route = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    async with serve(app) as client:
        a = {"authorization": f"Bearer {CLIENT_A}"}
        statuses = [(await client.post("/v1/score", json=body, headers=a)).status_code]
        statuses += [(await client.post("/v1/route", json=route, headers=a)).status_code]
        statuses += [(await client.post("/v1/score", json=body, headers=a)).status_code]
        limited = await client.post("/v1/score", json=body, headers=a)
        also = await client.post("/v1/route", json=route, headers=a)
        other = await client.post(
            "/v1/score", json=body, headers={"authorization": f"Bearer {CLIENT_B}"}
        )
        health = await client.get("/healthz")
        metrics = (await client.get("/metrics")).text
    assert statuses == [200, 200, 200]
    assert_openai_error(limited, 429, "rate_limit_exceeded")
    assert int(limited.headers["retry-after"]) >= 1
    assert also.status_code == 429
    assert other.status_code == 200 and health.status_code == 200
    assert 'llmtriage_rate_limited_requests_total{group="scoring"} 1.0' in metrics
    assert 'llmtriage_rate_limited_requests_total{group="inference"} 1.0' in metrics
    assert 'endpoint="/v1/score",method="POST",status="429"} 1.0' in metrics


async def test_rate_limit_off_and_unkeyed_requests_unlimited(tiny_artifact: Path) -> None:
    keyed = ServeSettings(
        model=tiny_artifact, client_key_hashes=[_digest(CLIENT_A)], rate_limit_rps=0
    )
    unkeyed = ServeSettings(model=tiny_artifact, rate_limit_rps=0.5, rate_limit_burst=1)
    for settings, headers in ((keyed, {"authorization": f"Bearer {CLIENT_A}"}), (unkeyed, {})):
        async with serve(create_service(settings, env={})) as client:
            for _ in range(5):
                response = await client.post("/v1/score", json={"prompt": "hi"}, headers=headers)
                assert response.status_code == 200


@pytest.mark.parametrize("local", [False, True], ids=["store", "local"])
async def test_token_bucket_refills_at_its_rate(local: bool) -> None:
    now = [1000.0]
    bucket = TokenBucket(
        MemoryStore(), KeySpace(), rate=2.0, burst=3, clock=lambda: now[0], local=local
    )
    assert [await bucket.take("t") for _ in range(3)] == [0.0] * 3
    assert await bucket.take("t") == pytest.approx(0.5)  # a token every 0.5 s
    now[0] += 0.25
    assert await bucket.take("t") == pytest.approx(0.25)
    now[0] += 0.25
    assert await bucket.take("t") == 0.0
    now[0] += 100  # refills up to the burst, not beyond
    assert [await bucket.take("t") for _ in range(4)][3] > 0


async def test_replicas_sharing_a_store_share_the_bucket() -> None:
    """Two buckets over one store (what two replicas over one Redis are): one budget."""
    store, keys = MemoryStore(), KeySpace(secret=b"s")
    now = [1000.0]
    replicas = [TokenBucket(store, keys, rate=1.0, burst=4, clock=lambda: now[0]) for _ in "ab"]
    waits = [await replicas[i % 2].take("tenant") for i in range(6)]
    assert waits[:4] == [0.0] * 4 and all(w > 0 for w in waits[4:])
    assert await replicas[0].take("other tenant") == 0.0
    now[0] += 1.0  # one token back
    assert await replicas[1].take("tenant") == 0.0
    assert await replicas[0].take("tenant") > 0
