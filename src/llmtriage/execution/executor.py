"""Run one Decision: the cascade when the decision asks for it and it is on, else the
decided deployment's fallback chain. Whole answers come back as a `Completion`, streams
as a `RoutedStream` opened up to their first token.

With the cascade, the cheap tier answers first (its own deployments as the chain, no
neighbour tiers) and the confidence check decides whether that answer is served or the
decided (strong) chain is called as well; the cost is then both calls'. A stream's
cheap answer is fetched whole, checked, and replayed as chunks when accepted; when
escalated the strong chain streams.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmtriage.execution.cascade import Cascader
from llmtriage.execution.chains import Chains
from llmtriage.execution.deployments import ResolvedDeployment
from llmtriage.execution.served import Completion
from llmtriage.execution.streaming import RoutedStream
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.decision import Decision


class Executor:
    def __init__(self, chains: Chains, cascader: Cascader | None = None) -> None:
        self.chains = chains
        self.cascader = cascader  # None: the cascade is off

    @property
    def deployments(self) -> Mapping[str, ResolvedDeployment]:
        return self.chains.deployments

    async def complete(self, decision: Decision, request: ChatRequest) -> Completion:
        if decision.cascade and self.cascader is not None:
            final, cost, attempts, info = await self.cascader.answer(decision, request)
            served = self.deployments[final.deployment.name]
            return Completion(decision, final.response, cost, served, attempts, info)
        answer = await self.chains.complete(decision, request)
        served = self.deployments[answer.deployment.name]
        return Completion(decision, answer.response, answer.cost, served, answer.attempts)

    async def stream(self, decision: Decision, request: ChatRequest) -> RoutedStream:
        if decision.cascade and self.cascader is not None:
            return await self.cascader.stream(decision, request)
        return await self.chains.open_stream(decision, request)
