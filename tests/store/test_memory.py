"""MemoryStore specifics the shared contract cannot express (bound, clock)."""

from __future__ import annotations

import pytest

from llmtriage.store import MemoryStore, StoreUsageError
from tests.store.conftest import FakeClock


async def test_lru_bound_evicts_least_recently_used() -> None:
    store = MemoryStore(max_entries=3)
    for name in "abc":
        await store.set(name, name.encode())
    assert await store.get("a") == b"a"  # touch: "b" is now the oldest
    await store.set("d", b"d")
    assert len(store) == 3
    assert await store.get("b") is None
    assert [await store.get(n) for n in "acd"] == [b"a", b"c", b"d"]


async def test_every_kind_of_entry_counts_towards_the_bound() -> None:
    store = MemoryStore(max_entries=2)
    await store.incr("ctr")
    await store.hincr("hash", "f", 1)
    await store.record_outcome("win", True, 0.0, 10.0)
    assert len(store) == 2
    assert await store.get("ctr") is None
    assert await store.hgetall("hash") == {"f": 1.0}


async def test_expiry_follows_the_injected_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.set("k", b"v", ttl_s=10)
    clock.advance(9.999)
    assert await store.get("k") == b"v"
    clock.advance(0.001)
    assert await store.get("k") is None
    assert len(store) == 0  # expired entries are dropped when seen


async def test_counter_keeps_its_existing_ttl() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.incr("c")  # created without a TTL ...
    await store.incr("c", ttl_s=1)  # ... gets one from the first call that passes it
    clock.advance(1.5)
    assert await store.get("c") is None


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


async def test_float_overflow_is_a_usage_error() -> None:
    store = MemoryStore()
    await store.incr_float("f", 1e308)
    with pytest.raises(StoreUsageError):
        await store.incr_float("f", 1e308)
