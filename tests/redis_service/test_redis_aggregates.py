"""Aggregates: write-behind buffering, bucketed totals, score-log hand-off."""

from __future__ import annotations

import pytest

from llmtriage.scoring.score_log import read_histogram, record_score
from llmtriage.store import KeySpace, MemoryStore
from llmtriage.store.aggregates import Aggregates, WriteBehind
from tests.store.conftest import FakeClock

KEYS = KeySpace(prefix="t:")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """Records the fields each `hincr` call wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        self.calls.append(field)
        return await super().hincr(key, field, amount, ttl_s)


async def test_adds_are_summed_locally_and_written_once_per_field() -> None:
    store = CountingStore()
    calls = store.calls
    agg = Aggregates(store, KEYS, clock=Clock(1_000_020.0))
    for _ in range(100):
        agg.add("requests")
    agg.add("cost", 0.25)
    assert calls == [] and agg.buffer.pending == 2
    assert await agg.flush() == 2
    assert sorted(calls) == ["cost", "requests"]
    assert await store.hgetall("t:met:stats:1000020") == {"requests": 100.0, "cost": 0.25}
    assert await agg.flush() == 0  # nothing pending: no calls


async def test_totals_sum_the_buckets_of_the_window_only() -> None:
    clock = Clock(10_000.0)
    agg = Aggregates(MemoryStore(), KEYS, bucket_s=60, retention_s=3600, clock=clock)
    agg.add("n", 1)
    clock.now += 60
    agg.add("n", 2)
    clock.now += 600
    agg.add("n", 4)
    assert (await agg.totals(3600)).fields == {"n": 7.0}  # unflushed deltas flushed first
    recent = await agg.totals(60)
    assert recent.fields == {"n": 4.0}
    assert recent.start <= clock.now - 60 and recent.end > clock.now
    with pytest.raises(ValueError):
        await agg.totals(3601)


async def test_buckets_expire_after_retention() -> None:
    ttl_clock = FakeClock()  # the store's TTL clock; the wall clock picks the bucket
    store = MemoryStore(clock=ttl_clock)
    agg = Aggregates(store, KEYS, bucket_s=60, retention_s=120, clock=Clock(6000.0))
    agg.add("n")
    await agg.flush()
    ttl_clock.advance(119)
    assert await store.hgetall("t:met:stats:6000") == {"n": 1.0}
    ttl_clock.advance(2)
    assert await store.hgetall("t:met:stats:6000") == {}


async def test_pending_fields_are_bounded() -> None:
    buffer = WriteBehind(MemoryStore(), max_pending=2)
    for field in "abc":
        buffer.add("k", field, 1.0)
    buffer.add("k", "a", 1.0)  # existing fields still count
    assert buffer.pending == 2 and buffer.dropped == 1
    assert await buffer.flush() == 2


async def test_score_log_writes_through_the_buffer_into_its_own_layout() -> None:
    store = MemoryStore()
    agg = Aggregates(store, KEYS, clock=Clock(7200.0))
    for score in (0.1, 0.1, 0.9):
        await record_score(agg.buffer, KEYS, score, 7200.0)
    assert agg.buffer.pending == 2  # two bins, coalesced
    await agg.flush()
    hist = await read_histogram(store, KEYS, start=7200.0, end=7200.0)
    assert hist.total == 3.0
