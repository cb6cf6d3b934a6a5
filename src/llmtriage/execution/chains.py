"""A decision's fallback chain, run whole or opened as a stream.

The decided deployment comes first; with `fallback.enabled` (the default) the tier's
other deployments and the neighbouring tiers back it up, in the order fallback/plan.py
gives, under one deadline and per-deployment circuit breakers. Without it the chain is
the single decided call. A stream that breaks after part of its answer was sent goes on
down the same chain from that part (`fallback.mid_stream: resume`, streaming.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from llmtriage.execution.deployments import ResolvedDeployment
from llmtriage.execution.served import Served
from llmtriage.execution.streaming import Leg, Opened, RoutedStream, opening
from llmtriage.fallback import (
    Breakers,
    BreakerSettings,
    Chain,
    ChainSettings,
    FallbackMetrics,
    RetryPolicy,
    chain_order,
)
from llmtriage.fallback.resume import continuation
from llmtriage.providers import Timeouts
from llmtriage.providers.types import ChatRequest, ChatResponse
from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import FallbackConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision
from llmtriage.store.base import Store
from llmtriage.store.keys import KeySpace
from llmtriage.store.memory import MemoryStore


class Chains:
    """Runs decisions' fallback chains over the resolved deployments."""

    def __init__(
        self,
        deployments: Mapping[str, ResolvedDeployment],
        catalog: Catalog,
        config: FallbackConfig,
        chain: Chain,
    ) -> None:
        self.deployments = dict(deployments)
        self.catalog = catalog
        self.config = config
        self.chain = chain

    async def complete(
        self, decision: Decision, request: ChatRequest, neighbours: str | None = None
    ) -> Served:
        """The chain's whole answer; `neighbours` overrides the config's neighbour_tiers."""

        async def call(target: ResolvedDeployment, timeouts: Timeouts) -> ChatResponse:
            return await target.require_provider().complete(request, timeout=timeouts)

        answered = await self.chain.run(self.targets(decision, neighbours), call)
        served, response = answered.target, answered.value
        if not response.model:
            response.model = served.config.model
        cost = cost_usd(response.usage, served.config) if response.usage else None
        return Served(response, served.config, served.tier, tuple(answered.attempts), cost)

    async def open_stream(self, decision: Decision, request: ChatRequest) -> RoutedStream:
        """The chain's stream, opened up to its first chunk that says something, so that
        upstream errors surface (and fall back) before the client is sent a status line."""

        def caller(req: ChatRequest) -> Callable[[ResolvedDeployment, Timeouts], Awaitable[Opened]]:
            async def call(target: ResolvedDeployment, timeouts: Timeouts) -> Opened:
                return await opening(target.require_provider().stream(req, timeout=timeouts))

            return call

        answered = await self.chain.run(self.targets(decision), caller(request), settle_later=True)
        served, (head, rest) = answered.target, answered.value

        async def resume(partial: str) -> Leg | None:
            """The rest of the chain, asked to continue the answer from `partial`."""
            nonlocal answered
            if not answered.can_resume:
                return None
            answered = await answered.resume(caller(continuation(request, partial)))
            served, (head, rest) = answered.target, answered.value
            return Leg(served.config, served.tier, head, rest, answered.settle)

        return RoutedStream(
            decision,
            served.config,
            head,
            rest,
            tier=served.tier,
            attempts=answered.attempts,
            on_end=answered.settle,
            resume=resume if self.config.mid_stream == "resume" else None,
        )

    def targets(
        self, decision: Decision, neighbours: str | None = None
    ) -> list[ResolvedDeployment]:
        """The decided deployment, then its fallbacks in order (fallback/plan.py)."""
        if not self.chain.settings.enabled:
            return [self.deployments[decision.deployment]]
        catalog = self.catalog
        names = chain_order(
            [(tier, [d.name for d in catalog.by_tier[tier]]) for tier in catalog.tiers],
            tier=decision.tier,
            first=decision.deployment,
            neighbours=neighbours or self.config.neighbour_tiers,
            forbidden=decision.forbidden_tiers,
            usable=lambda name: name not in catalog.unavailable,
        )
        return [self.deployments[name] for name in names]


def build_chain(
    config: FallbackConfig,
    store: Store | None,
    keys: KeySpace | None,
    metrics: FallbackMetrics | None,
) -> Chain:
    """The fallback chain's policy; breakers in `store` (None: this process's memory)."""
    retry = RetryPolicy(
        max_retries=config.max_retries,
        max_wait_s=config.max_retry_wait_s,
        backoff_base_s=config.backoff.base_s,
        backoff_max_s=config.backoff.max_s,
    )
    settings = ChainSettings(enabled=config.enabled, deadline_s=config.deadline_s, retry=retry)
    breakers = None
    if config.enabled and config.breaker.enabled:
        b = config.breaker
        breakers = Breakers(
            store if store is not None else MemoryStore(),
            BreakerSettings(
                window_s=b.window_s,
                min_calls=b.min_calls,
                failure_rate=b.failure_rate,
                failure_count=b.failure_count,
                consecutive=b.consecutive_failures,
                cooldown_s=b.cooldown_s,
                sync_s=b.sync_s,
            ),
            keys=keys,
            on_state=metrics.breaker if metrics is not None else None,
        )
    return Chain(settings, breakers=breakers, metrics=metrics)
