"""Circuit breakers on a shared store: transitions, one probe across replicas, fail-open."""

from __future__ import annotations

import asyncio

import pytest

from llmtriage.fallback.breaker import Breakers, BreakerSettings, BreakerState, Permit
from llmtriage.store import KeySpace, MemoryStore, StoreUnavailable
from tests.fallback.fakes import VirtualTime

SETTINGS = BreakerSettings(window_s=10.0, min_calls=4, failure_rate=0.5, cooldown_s=5.0)


class CountingStore(MemoryStore):
    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(clock=clock)
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await super().get(key)


class DownStore(MemoryStore):
    """A bare RedisStore during an outage: every call raises."""

    async def get(self, key: str) -> bytes | None:
        raise StoreUnavailable("redis get failed: ConnectionError")

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        raise StoreUnavailable("redis record_outcome failed: ConnectionError")


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime(1_700_000_000.0)


@pytest.fixture
def store(clock: VirtualTime) -> CountingStore:
    return CountingStore(clock)


def replica(store: MemoryStore, clock: VirtualTime, **kw: object) -> Breakers:
    settings = BreakerSettings(**{**SETTINGS.__dict__, **kw})  # type: ignore[arg-type]
    return Breakers(store, settings, keys=KeySpace(prefix="t:"), clock=clock)


async def outcomes(b: Breakers, *oks: bool, dep: str = "a") -> None:
    for ok in oks:
        ticket = await b.allow(dep, lease_s=1.0)
        assert ticket.permit is Permit.CALL
        await b.record(ticket, ok=ok)


async def test_opens_on_failure_rate(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock)
    await outcomes(b, False, False, False)  # 3 of 3 failed, but fewer than min_calls
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL
    await outcomes(b, True)
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL  # 3/4 checked on failures only
    await outcomes(b, False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.DENIED
    assert (await b.allow("b", lease_s=1)).permit is Permit.CALL  # per deployment


async def test_opens_on_failure_count(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock, min_calls=1000, failure_count=3)
    await outcomes(b, *[True] * 20, False, False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL
    await outcomes(b, False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.DENIED


async def test_opens_on_failures_in_a_row_at_any_rate(
    store: CountingStore, clock: VirtualTime
) -> None:
    """One call a minute: the 10 s window never holds min_calls, the streak still trips."""
    b = replica(store, clock, min_calls=1000, consecutive=3)
    for ok in (False, False, True, False, False):  # a success starts the streak afresh
        await outcomes(b, ok)
        clock.now += 60
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL
    await outcomes(b, False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.DENIED
    clock.now += 5.1  # cooldown: the probe fails, open again; a fresh streak after that
    await b.record(await b.allow("a", lease_s=1), ok=False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.DENIED


async def test_no_streak_bound_leaves_the_rate(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock, min_calls=1000, consecutive=None)
    for _ in range(50):
        await outcomes(b, False)
        clock.now += 60
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL


async def test_failures_slide_out_of_the_window(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock, min_calls=1000, failure_count=3)
    await outcomes(b, False, False)
    clock.now += 11  # a whole window later
    await outcomes(b, False, False)
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL


async def test_an_open_breaker_costs_no_store_read(
    store: CountingStore, clock: VirtualTime
) -> None:
    a, other = replica(store, clock), replica(store, clock)
    await outcomes(a, False, False, False, False)
    reads = store.reads
    for _ in range(10):
        assert (await a.allow("a", lease_s=1)).permit is Permit.DENIED
    assert store.reads == reads
    assert (await other.allow("a", lease_s=1)).permit is Permit.DENIED  # shared: one read
    assert (await other.allow("a", lease_s=1)).permit is Permit.DENIED
    assert store.reads == reads + 1


async def test_one_probe_across_replicas_then_closed(
    store: CountingStore, clock: VirtualTime
) -> None:
    replicas = [replica(store, clock) for _ in range(5)]
    await outcomes(replicas[0], False, False, False, False)
    clock.now += 4.9
    assert {(await r.allow("a", lease_s=2)).permit for r in replicas} == {Permit.DENIED}
    clock.now += 0.2
    tickets = await asyncio.gather(*(r.allow("a", lease_s=2) for r in replicas))
    probes = [t for t in tickets if t.permit is Permit.PROBE]
    assert len(probes) == 1
    prober = replicas[tickets.index(probes[0])]
    await prober.record(probes[0], ok=True)
    assert {(await r.allow("a", lease_s=2)).permit for r in replicas} == {Permit.CALL}
    await outcomes(replicas[1], False)  # the old failures were cleared with the close
    assert (await replicas[2].allow("a", lease_s=2)).permit is Permit.CALL


async def test_failed_probe_reopens_for_a_cooldown(
    store: CountingStore, clock: VirtualTime
) -> None:
    b = replica(store, clock)
    await outcomes(b, False, False, False, False)
    clock.now += 5.1
    probe = await b.allow("a", lease_s=2)
    assert probe.permit is Permit.PROBE
    await b.record(probe, ok=False)
    clock.now += 4.0
    assert (await b.allow("a", lease_s=2)).permit is Permit.DENIED
    clock.now += 1.2
    assert (await b.allow("a", lease_s=2)).permit is Permit.PROBE


async def test_a_lost_probe_is_replaced_after_its_lease(
    store: CountingStore, clock: VirtualTime
) -> None:
    a, other = replica(store, clock), replica(store, clock)
    await outcomes(a, False, False, False, False)
    clock.now += 5.1
    lost = await a.allow("a", lease_s=2)
    assert lost.permit is Permit.PROBE  # its replica dies before recording
    clock.now += 1.0
    assert (await other.allow("a", lease_s=2)).permit is Permit.DENIED
    clock.now += 1.1
    retry = await other.allow("a", lease_s=2)
    assert retry.permit is Permit.PROBE
    await a.record(lost, ok=True)  # a late outcome of the lost probe changes nothing
    assert (await other.allow("a", lease_s=2)).permit is Permit.DENIED
    await other.record(retry, ok=True)
    assert (await other.allow("a", lease_s=2)).permit is Permit.CALL


async def test_state_changes_are_reported(store: CountingStore, clock: VirtualTime) -> None:
    seen: list[tuple[str, BreakerState]] = []
    b = Breakers(store, SETTINGS, clock=clock, on_state=lambda d, s: seen.append((d, s)))
    await outcomes(b, False, False, False, False)
    clock.now += 5.1
    await b.record(await b.allow("a", lease_s=1), ok=True)
    states = [s for _, s in seen]
    assert BreakerState.OPEN in states
    assert states[-2:] == [BreakerState.HALF_OPEN, BreakerState.CLOSED]


async def test_an_unreachable_store_fails_open(clock: VirtualTime) -> None:
    b = replica(DownStore(clock=clock), clock)
    for _ in range(10):
        ticket = await b.allow("a", lease_s=1)
        assert ticket.permit is Permit.CALL
        await b.record(ticket, ok=False)


async def test_garbage_state_counts_as_closed(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock)
    await store.set(KeySpace(prefix="t:").breaker_state("a"), b"not json")
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        BreakerSettings(failure_rate=0)
    with pytest.raises(ValueError, match="window_s"):
        BreakerSettings(window_s=0.01)


async def test_a_closed_state_is_trusted_for_sync_s(
    store: CountingStore, clock: VirtualTime
) -> None:
    a, b = replica(store, clock, sync_s=0.5), replica(store, clock, sync_s=0.5)
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL
    reads = store.reads
    await outcomes(a, False, False, False, False)  # a trips it
    assert (await a.allow("a", lease_s=1)).permit is Permit.DENIED  # at once for a
    assert (await b.allow("a", lease_s=1)).permit is Permit.CALL  # b's view is 0.5 s old
    assert store.reads == reads + 1  # only a's first look
    clock.now += 0.6
    assert (await b.allow("a", lease_s=1)).permit is Permit.DENIED


async def test_sync_s_zero_reads_every_time(store: CountingStore, clock: VirtualTime) -> None:
    b = replica(store, clock, sync_s=0)
    for _ in range(3):
        await b.allow("a", lease_s=1)
    assert store.reads == 3
