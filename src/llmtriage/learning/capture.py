"""One proxied request's DecisionRecord, from what the proxy handler holds at its end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from llmtriage.execution.served import CascadeInfo
from llmtriage.fallback.attempts import Attempt, calls, fallbacks
from llmtriage.learning.exploration import propensity_of
from llmtriage.learning.record import DecisionRecord, prompt_hash
from llmtriage.providers.types import ChatRequest, Usage
from llmtriage.routing.auth import bearer_token
from llmtriage.routing.decision import Decision
from llmtriage.routing.rules import RequestFacts


def client_digest(key: bytes, headers: Mapping[str, str]) -> str | None:
    """Who sent it (a keyed digest of the bearer key), so only they may judge it."""
    token = bearer_token(headers.get("authorization"))
    return None if token is None else prompt_hash(key, "client\0" + token)[:32]


def build_record(
    *,
    decision_id: str,
    ts: float,
    latency_s: float,
    body: ChatRequest,
    headers: Mapping[str, str],
    decision: Decision,
    tier: str,
    deployment: str,
    attempts: Sequence[Attempt],
    cascade: CascadeInfo | None,
    usage: Usage | None,
    cost: Decimal | None,
    stream: bool,
    outcome: str,
    key: bytes,
    log_prompts: bool,
) -> DecisionRecord:
    text = decision.scored_text
    if text is None:
        text = RequestFacts(body, headers).last_user_text
    policy_tier, propensity = propensity_of(decision)
    return DecisionRecord(
        decision_id=decision_id,
        ts=ts,
        router=decision.requested_model,
        reason=decision.reason.value,
        policy_tier=policy_tier,
        routed_tier=decision.tier,
        tier=tier,
        deployment=deployment,
        propensity=propensity,
        score=decision.score,
        novelty=decision.novelty,
        rule=decision.rule,
        forbidden_tiers=decision.forbidden_tiers,
        model_version=decision.model_version,
        cascade=cascade.header if cascade is not None else None,
        fallbacks=tuple(name for name, _ in fallbacks(attempts)),
        attempts=calls(attempts),
        outcome=outcome,
        status=200,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        cost_usd=float(cost) if cost is not None else None,
        latency_ms=round(latency_s * 1000.0, 3),
        stream=stream,
        prompt_hash=prompt_hash(key, text),
        prompt=text if log_prompts else None,
        client=client_digest(key, headers),
    )
