"""A routed stream: the upstream's chunks, with usage and cost kept as they pass."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal

from llmtriage.providers.types import ChatChunk, Usage
from llmtriage.routing.config import DeploymentConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision


class RoutedStream:
    """Iterate once, then `aclose()` (always: it releases the upstream connection)."""

    def __init__(
        self,
        decision: Decision,
        deployment: DeploymentConfig,
        first: ChatChunk | None,
        rest: AsyncGenerator[ChatChunk, None],
    ) -> None:
        self.decision = decision
        self.deployment = deployment
        self.usage: Usage | None = None
        self._first = first
        self._rest = rest

    @classmethod
    async def open(
        cls,
        decision: Decision,
        deployment: DeploymentConfig,
        chunks: AsyncGenerator[ChatChunk, None],
    ) -> RoutedStream:
        # Pull the first chunk now: connection and HTTP errors raise here, while the
        # proxy can still answer with a proper status code.
        try:
            first = await anext(chunks, None)
        except BaseException:
            await chunks.aclose()
            raise
        return cls(decision, deployment, first, chunks)

    @property
    def cost(self) -> Decimal | None:
        return cost_usd(self.usage, self.deployment) if self.usage is not None else None

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield self._seen(first)
        async for chunk in self._rest:
            yield self._seen(chunk)

    def _seen(self, chunk: ChatChunk) -> ChatChunk:
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk

    async def aclose(self) -> None:
        await self._rest.aclose()
