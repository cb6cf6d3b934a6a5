"""Circuit breakers under a flapping provider, one probe at a time, and shared by replicas
through Redis, which may die and come back without a single request failing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from llmtriage.store import FailOpenStore, KeySpace, MemoryStore, RedisConfig, Store
from tests.chaos.harness import chaos_config, running
from tests.chaos.upstream import FakeUpstream, http, ok, slow
from tests.redis_server import RedisServer

Up = dict[str, FakeUpstream]
BODY: dict[str, Any] = {"model": "cheap", "messages": [{"role": "user", "content": "Hello?"}]}
COOLDOWN = 1.5  # long enough for a loaded CI box to send a few requests meanwhile
BREAKER = {"breaker": {"window_s": 30, "min_calls": 4, "failure_rate": 0.5, "cooldown_s": COOLDOWN}}


def post(url: str) -> httpx.Response:
    response = httpx.post(url + "/v1/chat/completions", json=BODY, timeout=10)
    assert response.status_code == 200, response.text
    return response


def breaker_gauge(url: str, deployment: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f'llmtriage_breaker_state{{deployment="{deployment}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no breaker gauge for {deployment}")


@pytest.fixture
def url(urls: dict[str, str]) -> Iterator[str]:
    with running(chaos_config(urls, fallback=BREAKER)) as url:
        yield url


def test_flapping_provider(up: Up, url: str) -> None:
    a = up["a"]
    a.script.extend([http(500)] * 4)
    assert [post(url).headers["x-llmtriage-model"] for _ in range(4)] == ["model-b"] * 4
    assert a.calls == 4 and breaker_gauge(url, "a") == 2  # open

    for _ in range(3):  # open: skipped at once, not even a connect
        response = post(url)
        assert response.headers["x-llmtriage-fallbacks"] == "a=breaker_open"
        assert response.headers["x-llmtriage-attempts"] == "1"
    assert a.calls == 4

    time.sleep(COOLDOWN + 0.1)  # cooldown over; a is back: the probe answers and closes the breaker
    assert post(url).headers["x-llmtriage-model"] == "model-a"
    assert breaker_gauge(url, "a") == 0
    assert {post(url).headers["x-llmtriage-model"] for _ in range(3)} == {"model-a"}
    assert a.calls == 8

    a.script.extend([http(503)] * 5)  # down again: 3 failures of 6 calls since it closed
    assert {post(url).headers["x-llmtriage-model"] for _ in range(4)} == {"model-b"}
    assert a.calls == 11 and breaker_gauge(url, "a") == 2
    time.sleep(COOLDOWN + 0.1)
    post(url)  # the probe fails (a is still down): open again after exactly one call
    assert a.calls == 12
    post(url)
    assert a.calls == 12 and breaker_gauge(url, "a") == 2


async def test_half_open_lets_exactly_one_probe_through(up: Up, url: str) -> None:
    up["a"].script.extend([http(500)] * 4)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(4):
            await client.post("/v1/chat/completions", json=BODY)
        await asyncio.sleep(COOLDOWN + 0.1)
        up["a"].script.append(slow(0.4))  # the probe takes a while to answer
        responses = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=BODY) for _ in range(8))
        )
    assert all(r.status_code == 200 for r in responses)
    models = sorted(r.headers["x-llmtriage-model"] for r in responses)
    assert models == ["model-a"] + ["model-b"] * 7
    assert up["a"].calls == 5


@pytest.mark.redis
def test_replicas_share_breakers_and_survive_redis_dying(
    up: Up, urls: dict[str, str], redis_server: RedisServer
) -> None:
    from llmtriage.store.redis import RedisStore

    def store() -> Store:
        redis = RedisStore(RedisConfig(url=SecretStr(redis_server.url)))
        return FailOpenStore(redis, MemoryStore(), op_timeout_s=0.25, retry_backoff_s=0.2)

    config = chaos_config(urls, fallback=BREAKER)
    keys = KeySpace(prefix=f"chaos:{time.monotonic_ns()}:")
    with ExitStack() as stack:
        replicas = []
        for _ in range(2):
            replicas.append(stack.enter_context(running(config, store=store, keys=keys)))
        first, second = replicas
        up["a"].chooser = lambda _: http(500)
        for _ in range(4):
            post(first)
        assert up["a"].calls == 4
        for _ in range(3):  # the other replica learnt it from Redis: no call to a
            assert post(second).headers["x-llmtriage-fallbacks"] == "a=breaker_open"
        assert up["a"].calls == 4

        redis_server.kill()  # each replica falls back to its own, empty, breakers
        answered = [post(r).headers["x-llmtriage-model"] for r in replicas for _ in range(6)]
        assert set(answered) == {"model-b"}
        redis_server.start()
        # reconnect probe every 0.2 s; and past the cooldown, so that a breaker a replica
        # opened locally during the outage lets its probe through whatever the box's speed
        time.sleep(COOLDOWN + 0.3)
        up["a"].chooser = lambda _: ok()
        post(second)  # a's probe (or plain call): whatever replica, a answers again
        assert {post(r).headers["x-llmtriage-model"] for r in replicas} == {"model-a"}


def test_down_at_a_low_rate_opens_on_failures_in_a_row(up: Up, urls: dict[str, str]) -> None:
    """A request every 0.3 s: the 1 s window never holds min_calls (10), so no rate can
    trip; the failures in a row (consecutive_failures, default 5) do."""
    up["a"].chooser = lambda _: http(503)
    slow_traffic = {
        "breaker": {"window_s": 1, "min_calls": 10, "failure_rate": 0.5, "cooldown_s": 30}
    }
    with running(chaos_config(urls, fallback=slow_traffic)) as url:
        served = []
        for _ in range(6):
            served.append(post(url).headers["x-llmtriage-fallbacks"])
            time.sleep(0.3)
    # 1st: 1 call + 2 retries; 2nd: the 5th failure opens it, so its last retry is skipped
    assert served[:2] == ["a=overloaded"] * 2 and up["a"].calls == 5
    assert served[2:] == ["a=breaker_open"] * 4
