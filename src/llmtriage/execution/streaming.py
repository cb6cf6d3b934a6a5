"""A routed stream: the upstream's chunks, with usage and cost kept as they pass.

A stream is opened (`opening`) by pulling chunks until one says something: the leading
role chunk (`delta: {role: assistant, content: ""}`) is held back with it, so a stream
cut before its first token fails while the chain can still retry or fall back and the
client sees nothing of it. Once content is out, a later failure is reported through
`on_end` (so the deployment's circuit breaker hears of it) and then, with `resume`
given (`fallback.mid_stream: resume`), the answer goes on on the next deployment of the
chain from what the client already has (fallback/resume.py): the client reads one
answer, and `trailer()` names the deployments it came from. Without `resume`, or where
it cannot be continued, the stream ends with an error (the proxy sends an error event
and no `[DONE]`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtriage.errors import ProviderError
from llmtriage.execution.served import CascadeInfo
from llmtriage.fallback.attempts import Attempt
from llmtriage.fallback.resume import Partial, Splice
from llmtriage.providers.errors import ProviderCallError, ProviderStreamError
from llmtriage.providers.types import ChatChunk, Usage
from llmtriage.routing.config import DeploymentConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision

# The chunks up to and including the first that says something (empty: the upstream
# sent none before it ended) and the rest.
Opened = tuple[list[ChatChunk], AsyncGenerator[ChatChunk, None]]
OnEnd = Callable[[ProviderCallError | None], Awaitable[None]]
_MAX_HELD = 16  # role-only chunks held back at most, against an upstream that sends no other


@dataclass(frozen=True)
class Leg:
    """One deployment's part of a (possibly resumed) stream."""

    deployment: DeploymentConfig
    tier: str
    head: list[ChatChunk]
    rest: AsyncGenerator[ChatChunk, None]
    on_end: OnEnd | None = None


# Given the partial answer: the next leg, or None when no deployment is left to go on to.
# Raises (ChainExhausted, a fail-fast error) when the rest of the chain could not answer.
Resume = Callable[[str], Awaitable[Leg | None]]


class StreamNotResumed(ProviderStreamError):
    """A stream broke after part of the answer was sent, and could not be continued."""

    def __init__(self, broken: ProviderCallError, why: str) -> None:
        super().__init__(
            f"the stream broke after part of the answer was sent ({broken.detail}) and could "
            f"not be resumed: {why}",
            deployment=broken.deployment,
            error_type="stream_not_resumed",
        )


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
        resume: Resume | None = None,
    ) -> None:
        self.decision = decision
        self.deployment = deployment  # the deployment that answers (after any fallback)
        self.tier = tier or decision.tier
        self.attempts = attempts
        self.usage: Usage | None = None
        self.cascade = cascade  # None: the cascade did not run
        self.spent_before = Decimal(0)  # a doubted cheap answer's cost, when escalated
        self.resumed_from: list[DeploymentConfig] = []  # legs that broke, in order
        self._leg = Leg(deployment, self.tier, head, rest, on_end)
        self._resume = resume
        self._partial = Partial()
        self._splice: Splice | None = None  # set while a continuation is streaming

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
        """From the last leg's usage (a broken leg reports none: its share is not known)."""
        if self.usage is None:
            return None
        return cost_usd(self.usage, self.deployment) + self.spent_before

    def trailer(self) -> dict[str, str]:
        """What the headers could not say, sent after the last chunk: who finished a
        resumed answer (headers name the deployment that started it)."""
        if not self.resumed_from:
            return {}
        return {
            "x-llmtriage-resumed-from": ",".join(d.name for d in self.resumed_from),
            "x-llmtriage-deployment": self.deployment.name,
            "x-llmtriage-model": self.deployment.model,
        }

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        while True:
            try:
                async for chunk in self._chunks():
                    yield chunk
            except ProviderCallError as exc:
                await self._ended(exc)
                await self._go_on(exc)
                continue
            await self._ended(None)
            return

    async def _chunks(self) -> AsyncIterator[ChatChunk]:
        leg = self._leg
        head, leg.head[:] = list(leg.head), []
        for chunk in head:
            if (out := self._seen(chunk)) is not None:
                yield out
        async for chunk in leg.rest:
            if (out := self._seen(chunk)) is not None:
                yield out

    async def _go_on(self, broken: ProviderCallError) -> None:
        """The next leg after `broken`, or raise what the client is to be told."""
        why = self._partial.why_not()
        if self._resume is None:
            raise broken
        if why is not None:
            raise StreamNotResumed(broken, why) from broken
        try:
            leg = await self._resume(self._partial.text)
        except ProviderError as exc:  # ChainExhausted, or a fail-fast error of the next
            raise StreamNotResumed(broken, str(exc)) from exc
        if leg is None:
            raise broken  # no deployment left: the stream simply broke
        await self._leg.rest.aclose()
        self.resumed_from.append(self._leg.deployment)
        self._leg, self.deployment, self.tier = leg, leg.deployment, leg.tier
        self._splice = Splice(self._partial)

    async def _ended(self, error: ProviderCallError | None) -> None:
        if self._leg.on_end is not None:
            await self._leg.on_end(error)

    def _seen(self, chunk: ChatChunk) -> ChatChunk | None:
        if self._splice is not None:
            spliced = self._splice(chunk)
            if spliced is None:
                return None
            chunk = spliced
        if chunk.usage is not None:
            self.usage = chunk.usage
        self._partial.see(chunk)
        return chunk

    async def aclose(self) -> None:
        await self._leg.rest.aclose()
