"""The decision log's row types.

`DecisionRecord`: one routed request, written once, after its answer (or failure) is
known. `Verdict`: a judgement of one logged decision, keyed by (decision_id, source):

    source "feedback"          POST /v1/feedback (one per decision: a repeat replaces it)
    source "shadow:<name>"     reserved for shadow comparisons (issue 16 item 3): the
                               score of deployment <name>'s answer to the same prompt

`score` is always in [0, 1] (a label good/bad is 1/0), so verdicts of every source sit
in one column of the outcomes file (export.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

Label = Literal["good", "bad"]
FEEDBACK = "feedback"
LABEL_SCORES: dict[str, float] = {"good": 1.0, "bad": 0.0}


def new_decision_id() -> str:
    """A random id (uuid4 hex, 32 chars): unguessable, so it can be handed to clients."""
    return uuid.uuid4().hex


def prompt_hash(key: bytes, text: str) -> str:
    """Keyed digest of a prompt: equal prompts match, the text cannot be recovered or
    confirmed by guessing without the key."""
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    decision_id: str
    ts: float  # unix seconds when the request arrived
    router: str  # the model name the client asked for (an auto name routes)
    reason: str  # routing.decision.Reason value
    policy_tier: str  # the router's own choice, before any exploration
    routed_tier: str  # the tier routed to: policy_tier unless exploration picked another
    tier: str  # the tier that answered (after the cascade and fallback)
    deployment: str  # the deployment that answered
    propensity: float = 1.0  # P(routed_tier | prompt) under the policy; 1 without exploration
    score: float | None = None
    novelty: float | None = None
    rule: str | None = None
    forbidden_tiers: tuple[str, ...] = ()
    model_version: str | None = None
    cascade: str | None = None  # "accepted" | "escalated" | None (did not run)
    fallbacks: tuple[str, ...] = ()  # deployments that failed before the answer
    attempts: int = 0
    outcome: str = "ok"  # "ok" | "error" | "client_closed"
    status: int = 200
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    stream: bool = False
    prompt_hash: str = ""
    prompt: str | None = field(default=None, repr=False)  # only with log_prompts: true
    client: str | None = None  # keyed digest of the client key; feedback must match it

    @property
    def explored(self) -> bool:
        return self.routed_tier != self.policy_tier


@dataclass(frozen=True, kw_only=True)
class Verdict:
    decision_id: str
    score: float  # 0..1
    source: str = FEEDBACK
    label: Label | None = None
    comment: str | None = None
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True)
class LoggedDecision:
    """A decision with its verdicts (the join export and replay read)."""

    record: DecisionRecord
    verdicts: tuple[Verdict, ...] = ()

    def verdict(self, source: str = FEEDBACK) -> Verdict | None:
        return next((v for v in self.verdicts if v.source == source), None)
