"""A routed stream: the upstream's chunks, with usage and cost kept as they pass.

Once its first chunk is out, a stream cannot fall back any more: a later failure ends it
(the proxy sends an error event and no `[DONE]`) and is reported through `on_end`, so the
deployment's circuit breaker hears of it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal

from llmtriage.fallback.attempts import Attempt
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.types import ChatChunk, Usage
from llmtriage.routing.cascading import CascadeInfo
from llmtriage.routing.config import DeploymentConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision

# The first chunk (None: the upstream sent none before [DONE]) and the rest.
Opened = tuple[ChatChunk | None, AsyncGenerator[ChatChunk, None]]
OnEnd = Callable[[ProviderCallError | None], Awaitable[None]]


async def first_chunk(chunks: AsyncGenerator[ChatChunk, None]) -> Opened:
    """Pull the first chunk now: connection and HTTP errors raise here, while the proxy
    can still answer with a proper status code (or try another deployment)."""
    try:
        first = await anext(chunks, None)
    except BaseException:
        await chunks.aclose()
        raise
    return first, chunks


class RoutedStream:
    """Iterate once, then `aclose()` (always: it releases the upstream connection)."""

    def __init__(
        self,
        decision: Decision,
        deployment: DeploymentConfig,
        first: ChatChunk | None,
        rest: AsyncGenerator[ChatChunk, None],
        *,
        tier: str | None = None,
        attempts: Sequence[Attempt] = (),
        on_end: OnEnd | None = None,
        cascade: CascadeInfo | None = None,
    ) -> None:
        self.decision = decision
        self.deployment = deployment  # the deployment that answers (after any fallback)
        self.tier = tier or decision.tier
        self.attempts = attempts
        self.usage: Usage | None = None
        self.cascade = cascade  # None: the cascade did not run
        self.spent_before = Decimal(0)  # a doubted cheap answer's cost, when escalated
        self._first = first
        self._rest = rest
        self._on_end = on_end

    @classmethod
    async def open(
        cls,
        decision: Decision,
        deployment: DeploymentConfig,
        chunks: AsyncGenerator[ChatChunk, None],
    ) -> RoutedStream:
        first, rest = await first_chunk(chunks)
        return cls(decision, deployment, first, rest)

    @property
    def cost(self) -> Decimal | None:
        if self.usage is None:
            return None
        return cost_usd(self.usage, self.deployment) + self.spent_before

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield self._seen(first)
        try:
            async for chunk in self._rest:
                yield self._seen(chunk)
        except ProviderCallError as exc:
            await self._ended(exc)
            raise
        await self._ended(None)

    async def _ended(self, error: ProviderCallError | None) -> None:
        if self._on_end is not None:
            await self._on_end(error)

    def _seen(self, chunk: ChatChunk) -> ChatChunk:
        if chunk.usage is not None:
            self.usage = chunk.usage
        return chunk

    async def aclose(self) -> None:
        await self._rest.aclose()
