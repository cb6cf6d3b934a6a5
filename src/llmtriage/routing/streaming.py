"""A routed stream: the upstream's chunks, with usage and cost kept as they pass.

A stream is opened (`opening`) by pulling chunks until one says something: the leading
role chunk (`delta: {role: assistant, content: ""}`) is held back with it, so a stream
cut before its first token fails while the chain can still retry or fall back and the
client sees nothing of it. Once content is out, a later failure ends the stream (the
proxy sends an error event and no `[DONE]`) and is reported through `on_end`, so the
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

# The chunks up to and including the first that says something (empty: the upstream
# sent none before it ended) and the rest.
Opened = tuple[list[ChatChunk], AsyncGenerator[ChatChunk, None]]
OnEnd = Callable[[ProviderCallError | None], Awaitable[None]]
_MAX_HELD = 16  # role-only chunks held back at most, against an upstream that sends no other


def says_something(chunk: ChatChunk) -> bool:
    """Content, a tool call, a finish_reason or usage: more than the opening role chunk."""
    if chunk.usage is not None:
        return True
    for choice in chunk.choices:
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") is not None or choice.get("logprobs"):
            return True
        if any(value for key, value in delta.items() if key != "role"):
            return True
    return False


async def opening(chunks: AsyncGenerator[ChatChunk, None]) -> Opened:
    """Pull chunks until one says something: connection and HTTP errors, and a stream cut
    before its first token, raise here, while the proxy can still answer with a proper
    status code (or try another deployment)."""
    head: list[ChatChunk] = []
    try:
        async for chunk in chunks:
            head.append(chunk)
            if says_something(chunk) or len(head) >= _MAX_HELD:
                break
    except BaseException:
        await chunks.aclose()
        raise
    return head, chunks


class RoutedStream:
    """Iterate once, then `aclose()` (always: it releases the upstream connection)."""

    def __init__(
        self,
        decision: Decision,
        deployment: DeploymentConfig,
        head: list[ChatChunk],
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
        self._head = head
        self._rest = rest
        self._on_end = on_end

    @classmethod
    async def open(
        cls,
        decision: Decision,
        deployment: DeploymentConfig,
        chunks: AsyncGenerator[ChatChunk, None],
    ) -> RoutedStream:
        head, rest = await opening(chunks)
        return cls(decision, deployment, head, rest)

    @property
    def cost(self) -> Decimal | None:
        if self.usage is None:
            return None
        return cost_usd(self.usage, self.deployment) + self.spent_before

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        head, self._head = self._head, []
        for chunk in head:
            yield self._seen(chunk)
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
