"""The log's queue and retention, exploration's propensities, export and replay."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from llmtriage.cli import main
from llmtriage.errors import InputError
from llmtriage.learning.exploration import Explorer
from llmtriage.learning.export import outcome_rows, write_outcomes
from llmtriage.learning.log import DecisionLog
from llmtriage.learning.record import LoggedDecision, Verdict
from llmtriage.learning.replay import logged_policy, replay, threshold_policy
from llmtriage.learning.store import MemoryDecisionStore, open_decision_store
from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import ExplorationConfig, RoutingConfig
from llmtriage.routing.decision import Decision, Reason
from tests.learning.records import record


def _log(store: MemoryDecisionStore, **options: object) -> DecisionLog:
    async def opener() -> MemoryDecisionStore:
        return store

    return DecisionLog(opener, hash_key=b"k", **options)  # type: ignore[arg-type]


async def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    registry = CollectorRegistry()
    log = _log(MemoryDecisionStore(), queue_size=2, registry=registry)
    assert [log.submit(record(n)) for n in range(4)] == [True, True, False, False]
    assert log.dropped["queue_full"] == 2
    value = registry.get_sample_value(
        "llmtriage_decision_log_dropped_total", {"reason": "queue_full"}
    )
    assert value == 2.0


async def test_retention_by_age_and_rows() -> None:
    store = MemoryDecisionStore()
    now = record(10).ts
    log = _log(store, retention_s=5.5, retention_rows=3, clock=lambda: now)
    await log.start()
    for n in range(1, 11):
        log.submit(record(n))
    await log.flush()
    assert await log.prune() == 7  # 1..4 by age, then 5..7 by count
    assert [e.record for e in await store.fetch()] == [record(8), record(9), record(10)]
    await log.aclose()


def _config() -> RoutingConfig:
    deployment = {"provider": "openai", "input_price_per_mtok": 1, "output_price_per_mtok": 1}
    tiers = [
        {
            "name": t,
            "deployments": [{"name": f"{t}-d", "model": t, "context_window": 1000, **deployment}],
        }
        for t in ("cheap", "mid", "strong")
    ]
    return RoutingConfig.model_validate({"tiers": tiers})


def _decision(reason: Reason = Reason.CLASSIFIER, **changes: object) -> Decision:
    base = Decision(
        requested_model="auto", tier="mid", deployment="mid-d", model="mid", reason=reason,
        score=0.5, cascade=True,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_exploration_moves_with_epsilon_and_logs_propensities() -> None:
    catalog = Catalog(_config())
    explorer = Explorer(ExplorationConfig(epsilon=0.3), catalog, random.Random(7))
    seen = [explorer.apply(_decision()) for _ in range(4000)]
    assert all(d.policy_tier == "mid" for d in seen)
    moved = [d for d in seen if d.explored]
    assert 0.25 < len(moved) / len(seen) < 0.35
    assert {d.tier for d in moved} == {"cheap", "strong"}
    assert all(d.propensity == pytest.approx(0.15) and not d.cascade for d in moved)
    assert all(d.deployment == f"{d.tier}-d" for d in moved)
    kept = [d for d in seen if d not in moved]
    assert all(d.tier == "mid" and d.propensity == 0.7 for d in kept)


def test_exploration_leaves_rules_forbidden_tiers_and_other_routers_alone() -> None:
    catalog = Catalog(_config())
    explorer = Explorer(ExplorationConfig(routers={"auto": 1.0}), catalog, random.Random(1))
    rule = _decision(Reason.RULE)
    assert explorer.apply(rule) is rule
    other = _decision(requested_model="auto-2")
    assert explorer.apply(other) is other
    only = explorer.apply(_decision(forbidden_tiers=("strong",)))
    assert only.policy_tier == "mid" and only.tier == "cheap" and only.propensity == 1.0
    cornered = _decision(forbidden_tiers=("strong", "cheap"))
    assert explorer.apply(cornered) is cornered


def _logged(
    n: int,
    tier: str,
    score: float,
    reward: float | None,
    p: float = 1.0,
    policy: str | None = None,
    cost: float = 0.001,
) -> LoggedDecision:
    rec = record(
        n,
        score=score,
        routed_tier=tier,
        tier=tier,
        policy_tier=policy or tier,
        propensity=p,
        cost_usd=cost,
        prompt=f"prompt {n}",
        deployment=f"{tier}-d",
    )
    verdicts = () if reward is None else (Verdict(decision_id=rec.decision_id, score=reward),)
    return LoggedDecision(rec, verdicts)


def test_ipw_recovers_a_candidate_from_explored_traffic() -> None:
    """Deployed: everything above 0.5 to strong. Exploration sends half the rest there;
    a candidate at 0.0 (all strong) is judged on the explored rows, weighted 1/p."""
    tiers = ["cheap", "strong"]
    rows = []
    for n in range(200):
        score = n / 200
        if score >= 0.5:
            rows.append(_logged(n, "strong", score, 1.0, p=1.0))
        elif n % 2:
            rows.append(_logged(n, "strong", score, 0.9, p=0.5, policy="cheap", cost=0.01))
        else:
            rows.append(_logged(n, "cheap", score, 0.4, p=0.5))
    deployed = replay(rows, logged_policy, name="deployed", resamples=200)
    assert deployed.quality_snips.value == pytest.approx((100 * 1.0 + 50 * 0.4 * 2) / 200)
    everything = replay(
        rows, threshold_policy(tiers, {"strong": 0.0}), name="all strong", resamples=200
    )
    assert everything.coverage == pytest.approx(0.75)
    assert everything.quality_snips.value == pytest.approx((100 * 1.0 + 50 * 0.9 * 2) / 200)
    q = everything.quality_snips
    assert q.low is not None and q.high is not None and q.low <= q.value <= q.high  # type: ignore[operator]
    assert everything.tier_shares == {"strong": 1.0}
    with pytest.raises(InputError, match="strong"):
        threshold_policy(tiers, {"mid": 0.3})


def test_export_writes_the_outcomes_format_the_trainer_reads(tmp_path: Path) -> None:
    read_outcomes = pytest.importorskip("llmtriage_train.data.outcomes").read_outcomes
    rows = [_logged(n, "cheap", 0.2, 1.0 if n % 3 else 0.0) for n in range(6)]
    shadowed = [
        replace(
            e,
            verdicts=(
                *e.verdicts,
                Verdict(decision_id=e.record.decision_id, score=0.5, source="shadow:strong-d"),
            ),
        )
        for e in rows
    ]
    unjudged = _logged(99, "cheap", 0.2, None)
    no_prompt = replace(rows[0], record=replace(rows[0].record, decision_id="e" * 32, prompt=None))
    export = outcome_rows([*shadowed, unjudged, no_prompt], complete=True)
    assert export.models == ["cheap-d", "strong-d"] and len(export.rows) == 6
    assert export.without_prompt == 1
    for suffix in (".jsonl", ".parquet"):
        path = tmp_path / f"out{suffix}"
        write_outcomes(export, path)
        outcomes = read_outcomes(path)
        assert outcomes.models == ["cheap-d", "strong-d"]
        assert outcomes.quality[:, 1].tolist() == [0.5] * 6
        assert outcomes.prompts[1] == "prompt 1"
    sparse = outcome_rows([*rows, no_prompt])
    assert sparse.models == ["cheap-d"] and all(r["cheap-d"] is not None for r in sparse.rows)


async def _sqlite_log(path: Path, rows: list[LoggedDecision]) -> str:
    url = f"sqlite:///{path}"
    store = await open_decision_store(url)
    await store.write([e.record for e in rows])
    for e in rows:
        for v in e.verdicts:
            await store.put_verdict(v)
    await store.aclose()
    return url


def test_cli_export_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_logged(n, "cheap" if n % 2 else "strong", n / 20, 1.0) for n in range(20)]
    url = asyncio.run(_sqlite_log(tmp_path / "log.db", rows))
    out = tmp_path / "o.jsonl"
    assert main(["outcomes", "export", "--log", url, "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 20
    assert json.loads(out.read_text().splitlines()[0])["id"] == rows[0].record.decision_id
    capsys.readouterr()
    args = ["replay", "--log", url, "--thresholds", "strong=0.6", "--json"]
    assert main([*args, "--resamples", "50"]) == 0
    deployed, candidate = json.loads(capsys.readouterr().out)
    assert deployed["coverage"] == 1.0 and candidate["rows"] == 20
    assert main(["replay", "--log", url, "--thresholds", "strong=2"]) == 2
    assert "TIER=MIN" in capsys.readouterr().err
    assert main(["outcomes", "export", "--log", url, "--out", str(tmp_path / "o.csv")]) == 2
    assert main(["outcomes", "export", "--log", "mysql://x", "--out", str(out)]) == 2
