"""The routing decision: what was chosen for one request, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    RULE = "rule"  # a route_to_tier / route_to_deployment rule decided
    CLASSIFIER = "classifier"  # the score crossed the tier's threshold
    PASSTHROUGH = "passthrough"  # the client named a deployment, model or tier
    FORBIDDEN_CLAMP = "forbidden-clamp"  # the choice was lowered to the highest allowed tier
    DEFAULT = "default"  # classifier off: the config's default tier
    NOVEL = "novel"  # the prompt is unlike the scorer's training data: classifier.on_novel


@dataclass(frozen=True, kw_only=True)
class Decision:
    requested_model: str
    tier: str
    deployment: str
    model: str
    reason: Reason
    score: float | None = None  # None when no scoring was needed
    # distance of the prompt from the scorer's training data, when it scored and the
    # artifact has a novelty model; `novel`: above its calibrated threshold
    novelty: float | None = None
    novel: bool = False
    thresholds: tuple[tuple[str, float], ...] = ()  # (tier, minimum score) above the cheapest
    rule: str | None = None  # id of the rule that routed (or sent to the classifier)
    forbidden_tiers: tuple[str, ...] = ()
    forbid_rules: tuple[str, ...] = ()  # ids of the forbid_tiers rules that matched
    model_version: str | None = None  # classifier artifact version, when it scored
    estimated_tokens: int = 0
    # Try the cascade's cheap tier first. True only when the cascade is enabled, no
    # no_cascade rule matched, the classifier routed (reason classifier), its score is in
    # the cascade's band, the decided tier is the cascade's strong_tier and its cheap_tier
    # is not forbidden: the cascade only ever saves on requests the classifier would have
    # sent to the strong tier while unsure (the band), never overrides rules or clients.
    cascade: bool = False
    # the text the classifier scored (the last user turn), when it scored; not in to_dict
    scored_text: str | None = field(default=None, repr=False)
    # ε-exploration (learning/exploration.py): the router's own tier when exploration ran
    # on this decision (None: it did not), and P(this tier | prompt) under the policy
    policy_tier: str | None = None
    propensity: float = 1.0

    @property
    def explored(self) -> bool:
        """Exploration routed this request away from the router's own tier."""
        return self.policy_tier is not None and self.tier != self.policy_tier

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested_model": self.requested_model,
            "tier": self.tier,
            "deployment": self.deployment,
            "model": self.model,
            "reason": self.reason.value,
            "score": self.score,
            "novelty": self.novelty,
            "novel": self.novel,
            "thresholds": dict(self.thresholds),
            "rule": self.rule,
            "forbidden_tiers": list(self.forbidden_tiers),
            "forbid_rules": list(self.forbid_rules),
            "model_version": self.model_version,
            "estimated_tokens": self.estimated_tokens,
            "cascade": self.cascade,
        }
