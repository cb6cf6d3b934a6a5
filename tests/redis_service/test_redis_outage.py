"""Kill Redis under load: no request fails, /readyz reports the store degraded (still
200), and once Redis is back the shared counters grow in it again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from tests.redis_server import RedisServer
from tests.redis_service.conftest import ServiceFactory, chat
from tests.server.helpers import serve

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CONCURRENCY = 8
MAX_REQUESTS = 3000  # bound on the load loop whatever happens


class Load:
    """A bounded loop of concurrent score / route / completion requests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.sent = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async def worker(w: int) -> None:
            while not self.stop.is_set() and self.sent < MAX_REQUESTS:
                i = self.sent
                self.sent += 1
                await self.one(i, w)

        await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))

    async def one(self, i: int, w: int) -> None:
        text = f"Question {i % 50} from worker {w}: why is the sky blue?"
        kind = i % 3
        try:
            if kind == 0:
                response = await self.client.post("/v1/score", json={"prompt": text})
            elif kind == 1:
                response = await self.client.post("/v1/route", json=chat(text))
            else:
                response = await self.client.post("/v1/chat/completions", json=chat(text))
        except httpx.HTTPError as exc:
            self.errors.append(repr(exc))
            return
        self.statuses[response.status_code] += 1
        await asyncio.sleep(0)  # let the test's own coroutine interleave


async def stored_prompts(url: str, prefix: str) -> float:
    """`scoring.prompts` summed over every stats bucket in Redis itself (a fresh
    connection each time: the test's own client must not trip over the killed server)."""
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        total = 0.0
        async for key in client.scan_iter(match=f"{prefix}met:stats:*"):
            total += float(await client.hget(key, "scoring.prompts") or 0)
        return total
    finally:
        await client.aclose()


async def until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s} s")
        await asyncio.sleep(0.05)


async def test_redis_killed_under_load(
    make_service: ServiceFactory, redis_server: RedisServer, prefix: str
) -> None:
    app = make_service(redis_url=redis_server.url, redis_timeout_s=0.1)
    url = redis_server.url
    async with serve(app) as client:
        load = Load(client)
        running = asyncio.create_task(load.run())

        async def degraded() -> bool:
            ready = await client.get("/readyz")
            assert ready.status_code == 200  # degraded is not unready
            return bool(ready.json()["store"]["degraded"])

        async def healthy() -> bool:
            return not await degraded()

        try:
            await until(lambda: _after(load, 150), 30, "no load before the kill")
            before = await stored_prompts(url, prefix)
            assert before > 0

            redis_server.kill()
            killed_at = load.sent
            await until(degraded, 5, "readyz did not report the store degraded")
            metrics = (await client.get("/metrics")).text
            assert "llmtriage_store_degraded 1.0" in metrics
            await until(lambda: _after(load, killed_at + 150), 30, "no load during the outage")

            await asyncio.to_thread(redis_server.start)  # same port, empty (no persistence)
            restarted_at = load.sent
            await until(healthy, 10, "the store did not recover")
            await until(lambda: _after(load, restarted_at + 150), 30, "no load after the restart")
            first = await stored_prompts(url, prefix)
            await until(lambda: _grew(url, prefix, first), 5, "counters did not grow in Redis")
        finally:
            load.stop.set()
            await running
        after = await stored_prompts(url, prefix)

    print(
        f"\nsent {load.sent} requests ({killed_at} before the kill, "
        f"{restarted_at - killed_at} during the outage, {load.sent - restarted_at} after): "
        f"statuses {dict(load.statuses)}, transport errors {len(load.errors)}; "
        f"scoring.prompts in Redis {before:.0f} before the kill, {after:.0f} after the restart"
    )
    assert load.errors == []
    assert set(load.statuses) == {200}, load.statuses
    assert sum(load.statuses.values()) == load.sent
    assert after > first  # counting resumed in the restarted (empty) Redis


async def _after(load: Load, n: int) -> bool:
    return load.sent >= n


async def _grew(url: str, prefix: str, than: float) -> bool:
    return await stored_prompts(url, prefix) > than
