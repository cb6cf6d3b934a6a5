"""One contract for every decision store: memory, SQLite (a file) and PostgreSQL (a real
server, LLMTRIAGE_TEST_POSTGRES_URL; skipped with the reason when unset)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmtriage.learning.migrations import LATEST
from llmtriage.learning.record import DecisionRecord, Verdict
from llmtriage.learning.store import DecisionStore, open_decision_store
from tests.learning.records import record


async def test_is_a_decision_store(decision_store: DecisionStore) -> None:
    assert isinstance(decision_store, DecisionStore)
    assert await decision_store.ping() is True
    assert await decision_store.schema_version() == LATEST
    assert await decision_store.count() == 0


async def test_write_then_get_round_trips_every_field(decision_store: DecisionStore) -> None:
    full = record(
        1,
        rule="tools",
        forbidden_tiers=("strong", "mid"),
        fallbacks=("mini", "mini-2"),
        cascade="escalated",
        stream=True,
        prompt="Prove it, with ünïcode",
        client="c" * 16,
        propensity=0.05,
        routed_tier="cheap",
        outcome="error",
        status=503,
    )
    sparse = record(2, score=None, novelty=None, prompt_tokens=None, cost_usd=None)
    await decision_store.write([full, sparse])
    assert await decision_store.get(full.decision_id) == full
    assert await decision_store.get(sparse.decision_id) == sparse
    assert await decision_store.get("f" * 32) is None
    assert await decision_store.count() == 2


async def test_a_known_decision_id_is_kept_as_first_written(decision_store: DecisionStore) -> None:
    first = record(1)
    await decision_store.write([first])
    await decision_store.write([replace(first, tier="cheap"), record(2)])
    assert await decision_store.get(first.decision_id) == first
    assert await decision_store.count() == 2


async def test_verdict_for_an_unknown_decision_is_refused(decision_store: DecisionStore) -> None:
    assert await decision_store.put_verdict(Verdict(decision_id="9" * 32, score=1.0)) is False
    assert await decision_store.fetch() == []


async def test_verdicts_upsert_per_source_and_join(decision_store: DecisionStore) -> None:
    await decision_store.write([record(1), record(2)])
    one = record(1).decision_id
    assert await decision_store.put_verdict(Verdict(decision_id=one, score=0.0, label="bad", ts=5))
    again = Verdict(decision_id=one, score=1.0, label="good", comment="on reflection", ts=6)
    assert await decision_store.put_verdict(again)  # the same decision again: replaced
    shadow = Verdict(decision_id=one, score=0.4, source="shadow:big", ts=7)
    assert await decision_store.put_verdict(shadow)
    logged = await decision_store.fetch()
    assert [entry.record for entry in logged] == [record(1), record(2)]
    assert logged[0].verdicts == (again, shadow)
    assert logged[0].verdict() == again
    assert logged[1].verdicts == ()


async def test_fetch_is_in_time_order_within_bounds(decision_store: DecisionStore) -> None:
    await decision_store.write([record(n) for n in (5, 1, 3, 2, 4)])
    everything = [e.record.decision_id for e in await decision_store.fetch()]
    assert everything == [record(n).decision_id for n in (1, 2, 3, 4, 5)]
    bounded = await decision_store.fetch(since=record(2).ts, until=record(4).ts)
    assert [e.record for e in bounded] == [record(2), record(3)]


async def test_prune_by_age_then_by_row_count(decision_store: DecisionStore) -> None:
    await decision_store.write([record(n) for n in range(1, 11)])
    for n in (1, 2, 9, 10):
        await decision_store.put_verdict(Verdict(decision_id=record(n).decision_id, score=1.0))
    assert await decision_store.prune(before=record(3).ts, max_rows=None) == 2
    assert await decision_store.prune(before=None, max_rows=3) == 5
    kept = await decision_store.fetch()
    assert [e.record for e in kept] == [record(8), record(9), record(10)]
    assert [len(e.verdicts) for e in kept] == [0, 1, 1]
    assert await decision_store.count() == 3
    assert await decision_store.prune(before=None, max_rows=3) == 0
    # the pruned decision's verdict went with it: a new verdict for it is refused
    assert not await decision_store.put_verdict(Verdict(decision_id=record(1).decision_id, score=1))


async def test_reopening_keeps_rows_and_schema(store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("the memory store keeps nothing past the process, by design")
    first = await open_decision_store(store_url)
    await first.write([record(1)])
    await first.aclose()
    second = await open_decision_store(store_url)  # migrations already applied: a no-op
    try:
        assert await second.schema_version() == LATEST
        assert await second.get(record(1).decision_id) == record(1)
    finally:
        await second.aclose()


async def test_many_rows_in_one_batch(decision_store: DecisionStore) -> None:
    rows: list[DecisionRecord] = [record(n) for n in range(500)]
    await decision_store.write(rows)
    assert await decision_store.count() == 500
