"""One contract for every Store: MemoryStore, RedisStore (real redis-server), FailOpenStore."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from llmtriage.store import WINDOW_BUCKETS, KeySpace, Store, StoreUsageError
from tests.store.conftest import Harness

T0 = 1_700_000_000.0  # wall-clock `now` for outcome windows
# Real Redis really waits: TTLs long enough that a busy CI box cannot expire them early.
TTL, PAST = 0.5, 0.75


async def test_is_a_store(harness: Harness) -> None:
    assert isinstance(harness.store, Store)
    assert await harness.store.ping() is True


async def test_get_set_roundtrip(harness: Harness) -> None:
    s, k = harness.store, harness.key("v")
    assert await s.get(k) is None
    await s.set(k, b"\x00\xff binary")
    assert await s.get(k) == b"\x00\xff binary"
    await s.set(k, b"second")
    assert await s.get(k) == b"second"
    await s.delete(k)
    assert await s.get(k) is None
    await s.delete(k)  # deleting a missing key is fine


async def test_ttl_expiry(harness: Harness) -> None:
    s, k = harness.store, harness.key("ttl")
    await s.set(k, b"v", ttl_s=TTL)
    assert await s.get(k) == b"v"
    await harness.advance(PAST)
    assert await s.get(k) is None


async def test_set_without_ttl_clears_the_old_ttl(harness: Harness) -> None:
    s, k = harness.store, harness.key("ttl")
    await s.set(k, b"1", ttl_s=TTL)
    await s.set(k, b"2")
    await harness.advance(PAST)
    assert await s.get(k) == b"2"


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
async def test_invalid_ttl_is_rejected(harness: Harness, bad: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.store.set(harness.key("x"), b"v", ttl_s=bad)
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.store.incr(harness.key("c"), ttl_s=bad)


async def test_incr(harness: Harness) -> None:
    s, k = harness.store, harness.key("ctr")
    assert await s.incr(k) == 1
    assert await s.incr(k, 5) == 6
    assert await s.incr(k, -2) == 4
    assert int(await s.get(k) or b"") == 4


async def test_counter_ttl_is_set_on_creation_only(harness: Harness) -> None:
    """Time buckets expire `ttl_s` after their first increment, however busy they are."""
    s = harness.store
    ki, kf, kh = harness.key("i"), harness.key("f"), harness.key("h")
    await s.incr(ki, ttl_s=1.0)
    await s.incr_float(kf, 1.0, ttl_s=1.0)
    await s.hincr(kh, "a", 1.0, ttl_s=1.0)
    await harness.advance(0.6)
    assert await s.incr(ki, ttl_s=1.0) == 2
    assert await s.incr_float(kf, 1.0, ttl_s=1.0) == 2.0
    assert await s.hincr(kh, "a", 1.0, ttl_s=1.0) == 2.0
    await harness.advance(0.6)  # 1.2 s after creation: gone (a refreshed TTL would live on)
    assert await s.get(ki) is None
    assert await s.get(kf) is None
    assert await s.hgetall(kh) == {}


async def test_incr_float(harness: Harness) -> None:
    s, k = harness.store, harness.key("f")
    assert await s.incr_float(k, 0.5) == 0.5
    assert await s.incr_float(k, 1.25) == 1.75
    assert float(await s.get(k) or b"") == 1.75


async def test_hincr_and_hgetall(harness: Harness) -> None:
    s, k = harness.store, harness.key("h")
    assert await s.hgetall(k) == {}
    assert await s.hincr(k, "gpt-4o-mini", 1.5) == 1.5
    assert await s.hincr(k, "gpt-4o-mini", 1) == 2.5
    assert await s.hincr(k, "haiku", -1) == -1.0
    assert await s.hgetall(k) == {"gpt-4o-mini": 2.5, "haiku": -1.0}


async def test_wrong_type_is_a_usage_error(harness: Harness) -> None:
    s, kh, kv = harness.store, harness.key("h"), harness.key("v")
    await s.hincr(kh, "a", 1)
    await s.set(kv, b"not a number")
    with pytest.raises(StoreUsageError):
        await s.get(kh)
    with pytest.raises(StoreUsageError):
        await s.incr(kh)
    with pytest.raises(StoreUsageError):
        await s.incr(kv)
    with pytest.raises(StoreUsageError):
        await s.incr_float(kv, 1.0)
    with pytest.raises(StoreUsageError):
        await s.hgetall(kv)


async def test_concurrent_increments_add_up_exactly(harness: Harness) -> None:
    s, n = harness.store, 200
    ki, kf, kh = harness.key("i"), harness.key("f"), harness.key("h")
    results = await asyncio.gather(*(s.incr(ki, ttl_s=60) for _ in range(n)))
    assert sorted(results) == list(range(1, n + 1))  # each increment saw a distinct value
    await asyncio.gather(*(s.incr_float(kf, 0.5, ttl_s=60) for _ in range(n)))
    await asyncio.gather(*(s.hincr(kh, "xy"[i % 2], 0.25, ttl_s=60) for i in range(n)))
    assert int(await s.get(ki) or b"") == n
    assert float(await s.get(kf) or b"") == n * 0.5
    assert await s.hgetall(kh) == {"x": n / 8, "y": n / 8}


async def test_record_outcome_counts_a_sliding_window(harness: Harness) -> None:
    s, k, w = harness.store, harness.key("win"), 10.0  # ten 1-second buckets
    assert await s.record_outcome(k, True, T0, w) == (0, 1)
    assert await s.record_outcome(k, False, T0 + 0.5, w) == (1, 2)
    assert await s.record_outcome(k, False, T0 + 5, w) == (2, 3)
    # WINDOW_BUCKETS buckets later the first bucket (1 ok + 1 failure) has slid out.
    assert await s.record_outcome(k, True, T0 + WINDOW_BUCKETS * 1.0, w) == (1, 2)
    assert await s.record_outcome(k, True, T0 + 60, w) == (0, 1)


async def test_record_outcome_is_atomic(harness: Harness) -> None:
    s, k, n = harness.store, harness.key("win"), 100
    results = await asyncio.gather(
        *(s.record_outcome(k, i % 2 == 0, T0 + i * 0.01, 30.0) for i in range(n))
    )
    assert sorted(total for _, total in results) == list(range(1, n + 1))
    assert max(results, key=lambda r: r[1]) == (n // 2, n)


async def test_record_outcome_window_expires_when_idle(harness: Harness) -> None:
    s, k = harness.store, harness.key("win")
    await s.record_outcome(k, False, T0, 0.1)  # kept for 2 windows
    await harness.advance(0.35)
    assert await s.hgetall(k) == {}


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
async def test_record_outcome_rejects_bad_window(harness: Harness, bad: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        await harness.store.record_outcome(harness.key("win"), True, T0, bad)


async def test_compare_and_set(harness: Harness) -> None:
    s, k = harness.store, harness.key("cas")
    assert await s.compare_and_set(k, None, b"a") is True
    assert await s.compare_and_set(k, None, b"b") is False  # no longer absent
    assert await s.compare_and_set(k, b"zzz", b"b") is False
    assert await s.get(k) == b"a"
    assert await s.compare_and_set(k, b"a", b"b") is True
    assert await s.get(k) == b"b"


async def test_compare_and_set_ttl(harness: Harness) -> None:
    s, k = harness.store, harness.key("cas")
    assert await s.compare_and_set(k, None, b"v", ttl_s=TTL) is True
    await harness.advance(PAST)
    assert await s.get(k) is None
    assert await s.compare_and_set(k, None, b"w") is True


async def test_compare_and_set_has_exactly_one_winner(harness: Harness) -> None:
    s, k = harness.store, harness.key("cas")
    await s.set(k, b"open")
    wins = await asyncio.gather(
        *(s.compare_and_set(k, b"open", f"probe-{i}".encode()) for i in range(50))
    )
    assert sum(wins) == 1
    assert await s.get(k) == f"probe-{wins.index(True)}".encode()


# -- the shared circuit breaker as a caller builds it on these primitives -------------------


class SharedBreaker:
    """closed -> open (>= min_calls and failure rate >= max_rate in window) -> half-open (one
    probe, granted to exactly one replica) -> closed on success / open again on failure."""

    def __init__(self, store: Store, keys: KeySpace, deployment: str) -> None:
        self.store, self.state_key = store, keys.breaker_state(deployment)
        self.window_key = keys.breaker_window(deployment)
        self.window_s, self.min_calls, self.max_rate = 10.0, 4, 0.5
        self.cooldown_s, self.probe_lease_s = 5.0, 2.0

    async def _state(self) -> tuple[bytes | None, dict[str, object]]:
        raw = await self.store.get(self.state_key)
        return raw, (json.loads(raw) if raw else {"s": "closed"})

    async def allow(self, now: float) -> bool:
        raw, st = await self._state()
        if st["s"] == "closed":
            return True
        deadline = float(st["until"])  # type: ignore[arg-type]
        if now < deadline:
            return False  # open and cooling down, or a probe is already out
        probe = json.dumps({"s": "half_open", "until": now + self.probe_lease_s}).encode()
        return await self.store.compare_and_set(self.state_key, raw, probe, ttl_s=3600)

    async def record(self, ok: bool, now: float) -> None:
        raw, st = await self._state()
        if st["s"] == "half_open":
            new = {"s": "closed"} if ok else {"s": "open", "until": now + self.cooldown_s}
            if (
                await self.store.compare_and_set(
                    self.state_key, raw, json.dumps(new).encode(), ttl_s=3600
                )
                and ok
            ):
                await self.store.delete(self.window_key)  # start the closed state afresh
            return
        failures, total = await self.store.record_outcome(self.window_key, ok, now, self.window_s)
        if st["s"] == "closed" and total >= self.min_calls and failures / total >= self.max_rate:
            opened = json.dumps({"s": "open", "until": now + self.cooldown_s}).encode()
            await self.store.compare_and_set(self.state_key, raw, opened, ttl_s=3600)


async def test_shared_breaker_recipe_across_replicas(harness: Harness) -> None:
    keys = KeySpace(prefix=harness.prefix)
    replicas = [SharedBreaker(harness.store, keys, "openai/gpt-4o-mini") for _ in range(5)]
    a, b = replicas[0], replicas[1]
    for i in range(3):
        await a.record(True, T0 + i * 0.1)
    for i in range(3):
        await b.record(False, T0 + 1 + i * 0.1)
    assert await a.allow(T0 + 2) is False  # 3/6 failed: open for every replica
    assert await b.allow(T0 + 6) is False  # still cooling down
    grants = await asyncio.gather(*(r.allow(T0 + 7.5) for r in replicas))
    assert sum(grants) == 1  # exactly one half-open probe across replicas
    prober = replicas[grants.index(True)]
    assert await a.allow(T0 + 8) is False  # probe in flight
    await prober.record(True, T0 + 8)
    assert all(await asyncio.gather(*(r.allow(T0 + 8.1) for r in replicas)))  # closed again
    await a.record(False, T0 + 8.2)  # old failures were cleared: one failure does not re-open
    assert await b.allow(T0 + 8.3) is True
