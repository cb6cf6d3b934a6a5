"""Decision records for tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from llmtriage.learning.record import DecisionRecord

BASE = DecisionRecord(
    decision_id="0" * 32,
    ts=1_700_000_000.0,
    router="auto",
    reason="classifier",
    policy_tier="strong",
    routed_tier="strong",
    tier="strong",
    deployment="big",
    propensity=1.0,
    score=0.71,
    novelty=0.2,
    forbidden_tiers=(),
    model_version="tiny-1",
    attempts=1,
    prompt_tokens=12,
    completion_tokens=3,
    cost_usd=0.000081,
    latency_ms=4.5,
    prompt_hash="ab" * 32,
)


def record(n: int, **changes: Any) -> DecisionRecord:
    """The n-th record, one second after the (n-1)-th."""
    return replace(BASE, decision_id=f"{n:032x}", ts=BASE.ts + n, **changes)
