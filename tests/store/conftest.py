from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from llmtriage.store import FailOpenStore, MemoryStore, RedisConfig, Store
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)


class FakeClock:
    """Monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """One store under the contract, plus how to let time pass for it."""

    kind: str
    store: Store
    advance: Callable[[float], Awaitable[None]]
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


STORE_KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("failopen-redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=STORE_KINDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    # A fresh prefix per test: the session Redis may be shared (CI), so no FLUSHDB.
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    if request.param == "memory":
        clock = FakeClock()

        async def tick(seconds: float) -> None:
            clock.advance(seconds)

        yield Harness("memory", MemoryStore(max_entries=10_000, clock=clock), tick, prefix)
        return

    from llmtriage.store.redis import RedisStore

    # Generous timeouts: the contract checks semantics, and a loaded CI box must not turn
    # 200 concurrent calls into timeouts (test_resilient covers the short-timeout path).
    config = RedisConfig(
        url=SecretStr(request.getfixturevalue("redis_url")),
        socket_timeout_s=5,
        connect_timeout_s=5,
        pool_timeout_s=10,
    )
    primary = RedisStore(config)
    store: Store = primary
    if request.param == "failopen-redis":
        store = FailOpenStore(primary, MemoryStore(), op_timeout_s=15)
    try:
        yield Harness(request.param, store, asyncio.sleep, prefix)
        if isinstance(store, FailOpenStore):
            assert not store.degraded, store.last_error  # the contract ran against Redis
    finally:
        keys = [k async for k in primary.client.scan_iter(match=f"{prefix}*")]
        if keys:
            await primary.client.delete(*keys)
        await store.aclose()
