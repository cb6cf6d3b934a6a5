"""What the config's names mean: tiers in order, deployments, and requestable models.

A requested model name resolves, first match wins, to: an auto name (route), a
deployment name, a tier name, or a deployment's `model` (the first deployment,
cheapest tier first, that serves it).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtriage.routing.config import DeploymentConfig, RoutingConfig


@dataclass(frozen=True)
class Target:
    tier: str
    deployment: str | None  # None: the tier's first deployment that fits


class Catalog:
    def __init__(self, config: RoutingConfig, *, unavailable: frozenset[str] = frozenset()) -> None:
        self.unavailable = unavailable  # deployments without an API key
        self.tiers: tuple[str, ...] = tuple(config.tier_names)
        self.auto_names = frozenset(config.auto_model_names)
        self.by_tier = {tier.name: tuple(tier.deployments) for tier in config.tiers}
        self.deployments = {d.name: d for tier in config.tiers for d in tier.deployments}
        self.tier_of = {d.name: tier.name for tier in config.tiers for d in tier.deployments}
        names: dict[str, Target] = {}
        for tier in config.tiers:
            for d in tier.deployments:
                names.setdefault(d.model, Target(tier.name, d.name))
        names.update({tier: Target(tier, None) for tier in self.tiers})
        names.update({name: Target(self.tier_of[name], name) for name in self.deployments})
        self._names = names

    def resolve(self, model: str) -> Target | None:
        return self._names.get(model)

    @property
    def model_names(self) -> list[str]:
        return [*sorted(self.auto_names), *self._names]

    def pick(self, tier: str, tokens: int) -> DeploymentConfig:
        """The tier's first deployment that holds the prompt, preferring those with a key;
        else the widest (the upstream will then say the prompt is too long)."""
        fitting = [d for d in self.by_tier[tier] if d.context_window >= tokens]
        usable = [d for d in fitting if d.name not in self.unavailable]
        if usable or fitting:
            return (usable or fitting)[0]
        return max(self.by_tier[tier], key=lambda d: d.context_window)

    def clamp(self, tier: str, forbidden: frozenset[str]) -> str | None:
        """`tier` if allowed, else the highest allowed tier below it, else the lowest above."""
        if tier not in forbidden:
            return tier
        index = self.tiers.index(tier)
        below = [t for t in self.tiers[:index] if t not in forbidden]
        above = [t for t in self.tiers[index + 1 :] if t not in forbidden]
        return below[-1] if below else (above[0] if above else None)
