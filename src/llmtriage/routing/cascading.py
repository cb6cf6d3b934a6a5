"""The cascade (llmtriage.cascade) in the proxy's terms: ChatResponse ↔ Answer, the
verifier loaded at start-up, a cheap answer replayed as a stream, and the `Cascader`
that runs the two tiers for the service.

The service (routing/service.py) runs each tier as a fallback chain; the `Cascader`
hands the two calls to `run_cascade`; what it keeps of each chain is a `Served`. Logprobs are read
when the upstream returned them (`choices[0].logprobs.content[*].logprob`); the proxy
does not ask for them, so the logprob signals abstain unless the client did.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from llmtriage.cascade import (
    Answer,
    CascadeOutcome,
    CombinedConfidence,
    RequestView,
    SignalDeps,
    TokenUsage,
    build_confidence,
    run_cascade,
)
from llmtriage.cascade.base import AnswerVerifier
from llmtriage.fallback.attempts import Attempt
from llmtriage.fallback.errors import ChainExhausted
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse
from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import DeploymentConfig, RoutingConfig
from llmtriage.routing.decision import Decision
from llmtriage.scoring.scorer import Scorer

if TYPE_CHECKING:
    from llmtriage.routing.streaming import RoutedStream


@dataclass(frozen=True)
class Served:
    """One fallback chain's answer: what answered, how, and what it cost."""

    response: ChatResponse
    deployment: DeploymentConfig
    tier: str
    attempts: tuple[Attempt, ...]
    cost: Decimal | None  # None: the provider reported no usage


@dataclass(frozen=True)
class CascadeInfo:
    """What the cascade did for one request (absent when it did not run)."""

    escalated: bool
    reason: str  # "confident", "cheap_failed" or the deciding signal's reason
    cheap_decision: Decision  # the decision as if routed to the cheap tier (telemetry)
    cheap: Served | None  # the cheap tier's answer; None when its call failed
    cheap_cost: Decimal  # what the cheap attempt cost (0 when it failed)
    cheap_failed: tuple[Attempt, ...] = ()  # the cheap chain's attempts when it failed

    @property
    def header(self) -> str:
        return "escalated" if self.escalated else "accepted"


# What a tier's Answer carries: a whole answer, or the strong tier's opened stream.
Payload: TypeAlias = "Served | RoutedStream"


def request_view(request: ChatRequest) -> RequestView:
    messages = [m.model_dump(exclude_none=True) for m in request.messages]
    return RequestView.from_openai(messages, request.response_format)


def to_answer(served: Served) -> Answer[Payload]:
    response = served.response
    choice: dict[str, Any] = response.choices[0] if response.choices else {}
    message = choice.get("message") or {}
    content = message.get("content")
    usage = response.usage
    return Answer(
        model=served.deployment.model,
        text=content if isinstance(content, str) else "",
        usage=TokenUsage(usage.prompt_tokens, usage.completion_tokens) if usage else TokenUsage(),
        finish_reason=choice.get("finish_reason"),
        logprobs=_logprobs(choice.get("logprobs")),
        tool_calls=len(message.get("tool_calls") or []),
        raw=served,
    )


def _logprobs(logprobs: Any) -> tuple[float, ...] | None:
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not tokens:
        return None
    return tuple(float(t["logprob"]) for t in tokens if isinstance(t, dict) and "logprob" in t)


def price(answer: Answer[Payload]) -> Decimal | None:
    """A whole answer's cost; None for a stream (known only at its end)."""
    return answer.raw.cost if isinstance(answer.raw, Served) else None


async def replay(response: ChatResponse) -> AsyncGenerator[ChatChunk, None]:
    """A whole answer as OpenAI stream chunks: the content, the finish, then usage."""
    base: dict[str, Any] = {"id": response.id, "created": response.created}
    base["model"] = response.model
    for choice in response.choices:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": i, **call} for i, call in enumerate(message["tool_calls"])
            ]
        index = choice.get("index", 0)
        yield ChatChunk(**base, choices=[_chunk_choice(index, delta, None)])
        finish = choice.get("finish_reason") or "stop"
        yield ChatChunk(**base, choices=[_chunk_choice(index, {}, finish)])
    if response.usage is not None:
        yield ChatChunk(**base, choices=[], usage=response.usage)


def _chunk_choice(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def load_confidence(config: RoutingConfig, scorer: Scorer | None) -> CombinedConfidence | None:
    """The cascade's confidence check, built once at start-up; None when the cascade is off.
    The verifier shares the scorer's embedder when it was trained with the same one."""
    cascade = config.cascade
    if not cascade.enabled:
        return None
    verifier = None
    if "verifier" in [s.name for s in cascade.signals]:
        verifier = _load_verifier(config, scorer)
    return build_confidence(cascade, SignalDeps(verifier=verifier))


def _load_verifier(config: RoutingConfig, scorer: Scorer | None) -> AnswerVerifier:
    from llmtriage.cascade.artifact import read_verifier_manifest  # numpy: lazy
    from llmtriage.cascade.verifier import Verifier
    from llmtriage.scoring.artifact import MANIFEST

    path = config.verifier_path()
    if path is None or not (path / MANIFEST).is_file():
        raise config.source.error_at(
            ("cascade", "verifier_path"),
            f"no verifier artifact at {path}: train one with `make verifier`, "
            "or drop 'verifier' from cascade.signals",
        )
    ref = read_verifier_manifest(path).embedder
    embedder = scorer.embedder if scorer is not None else None
    if embedder is not None and (embedder.kind, embedder.fingerprint, embedder.dim) != (
        ref.kind,
        ref.fingerprint,
        ref.dim,
    ):
        embedder = None  # trained with another embedder: the verifier loads its own
    return Verifier.load(path, embedder=embedder)


# Run a decision's fallback chain whole; the str overrides the config's neighbour_tiers.
CompleteOn = Callable[[Decision, ChatRequest, "str | None"], Awaitable[Served]]
OpenOn = Callable[[Decision, ChatRequest], Awaitable["RoutedStream"]]


@dataclass(frozen=True)
class Cascader:
    """Cheap chain, check, then (when unsure) the decided chain, on the service's calls:
    `complete` runs a decision's chain whole, `open_stream` opens it as a stream."""

    confidence: CombinedConfidence
    cheap_tier: str
    catalog: Catalog
    complete: CompleteOn
    open_stream: OpenOn

    async def answer(
        self, decision: Decision, request: ChatRequest
    ) -> tuple[Served, Decimal | None, tuple[Attempt, ...], CascadeInfo]:
        """The served answer, the cost of both calls, every attempt, and what happened."""
        outcome, info = await self.run(decision, request, stream=False)
        final = outcome.final.raw
        assert isinstance(final, Served)
        attempts = final.attempts
        if info.escalated:
            attempts = (*cheap_attempts(info), *attempts)
        return final, outcome.cost_usd, attempts, info

    async def stream(self, decision: Decision, request: ChatRequest) -> RoutedStream:
        """Escalated: the strong chain streams; accepted: the cheap answer is replayed."""
        from llmtriage.routing.streaming import RoutedStream  # it imports this module

        outcome, info = await self.run(decision, request, stream=True)
        final = outcome.final.raw
        if isinstance(final, RoutedStream):  # escalated: the strong chain streams
            final.cascade, final.spent_before = info, info.cheap_cost
            final.attempts = (*cheap_attempts(info), *final.attempts)
            return final
        assert final is not None and info.cheap is not None
        return RoutedStream(
            decision,
            final.deployment,
            [],
            replay(final.response),
            tier=final.tier,
            attempts=final.attempts,
            cascade=info,
        )

    async def run(
        self, decision: Decision, request: ChatRequest, *, stream: bool
    ) -> tuple[CascadeOutcome[Payload], CascadeInfo]:
        """Cheap chain, check, then (when unsure) the decided chain: whole, or opened as a
        stream when `stream` (its Answer then carries the RoutedStream and no text)."""
        cheap_decision = self.cheap_decision(decision)
        cheap_failed: list[Attempt] = []

        async def cheap(req: ChatRequest) -> Answer[Payload]:
            try:
                served = await self.complete(cheap_decision, req, "none")
            except ChainExhausted as exc:
                cheap_failed.extend(exc.attempts)
                raise
            except ProviderCallError as exc:
                cheap_failed.append(Attempt.failed(cheap_decision.deployment, exc, 0.0))
                raise
            return to_answer(served)

        async def strong(req: ChatRequest) -> Answer[Payload]:
            if stream:
                opened = await self.open_stream(decision, req)
                return Answer(model=opened.deployment.model, text="", raw=opened)
            return to_answer(await self.complete(decision, req, None))

        outcome: CascadeOutcome[Payload] = await run_cascade(
            request,
            view=request_view(request),
            cheap=cheap,
            strong=strong,
            confidence=self.confidence,
            price=price,
            cheap_model=cheap_decision.model,
        )
        first = outcome.attempts[0]
        cheap_served = first.answer.raw if first.answer is not None else None
        info = CascadeInfo(
            escalated=outcome.escalated,
            reason=outcome.reason,
            cheap_decision=cheap_decision,
            cheap=cheap_served if isinstance(cheap_served, Served) else None,
            cheap_cost=first.cost_usd or Decimal(0),
            cheap_failed=tuple(cheap_failed),
        )
        return outcome, info

    def cheap_decision(self, decision: Decision) -> Decision:
        """The decision as if the router had picked the cascade's cheap tier."""
        deployment = self.catalog.pick(self.cheap_tier, decision.estimated_tokens)
        return replace(
            decision, tier=self.cheap_tier, deployment=deployment.name, model=deployment.model
        )


def cheap_attempts(info: CascadeInfo) -> tuple[Attempt, ...]:
    return info.cheap.attempts if info.cheap is not None else info.cheap_failed
