"""ε-exploration per router, applied by the service after the router decided.

With probability ε (the router's, i.e. the auto model name's), a decision the classifier
made goes to another allowed tier, chosen uniformly; the propensity of the tier routed
to is logged with it, so replay.py can weigh each logged answer by 1/propensity:

    kept:      1 - ε                 (the policy's own tier)
    explored:  ε / (allowed - 1)     (each other allowed tier)

Only classifier decisions explore: rules, named models, novel prompts and clamps say
what must happen, and their propensity stays 1. An explored request skips the cascade
(its propensity is then that of one tier).
"""

from __future__ import annotations

import random
from dataclasses import replace

from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import ExplorationConfig
from llmtriage.routing.decision import Decision, Reason


def propensity_of(decision: Decision) -> tuple[str, float]:
    """(the router's own tier, the propensity of the routed one) for any decision."""
    return decision.policy_tier or decision.tier, decision.propensity


class Explorer:
    def __init__(
        self, config: ExplorationConfig, catalog: Catalog, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.catalog = catalog
        self._rng = rng or random.Random(config.seed)  # seed None: from the OS

    @property
    def active(self) -> bool:
        return self.config.epsilon > 0 or any(e > 0 for e in self.config.routers.values())

    def apply(self, decision: Decision) -> Decision:
        epsilon = self.config.routers.get(decision.requested_model, self.config.epsilon)
        if epsilon <= 0 or decision.reason is not Reason.CLASSIFIER:
            return decision
        allowed = [t for t in self.catalog.tiers if t not in decision.forbidden_tiers]
        others = [t for t in allowed if t != decision.tier]
        if not others:
            return decision  # nowhere else to go: propensity 1
        if self._rng.random() >= epsilon:
            return replace(decision, policy_tier=decision.tier, propensity=1.0 - epsilon)
        tier = self._rng.choice(others)
        deployment = self.catalog.pick(tier, decision.estimated_tokens)
        return replace(
            decision,
            tier=tier,
            deployment=deployment.name,
            model=deployment.model,
            cascade=False,
            policy_tier=decision.tier,
            propensity=epsilon / len(others),
        )


__all__ = ["Explorer", "propensity_of"]
