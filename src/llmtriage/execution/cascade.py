"""The cascade (llmtriage.cascade) in the proxy's terms: ChatResponse ↔ Answer, the
verifier loaded at start-up, a cheap answer replayed as a stream, and the `Cascader`
that runs the two tiers' fallback chains.

The `Cascader` runs each tier through a `TierCalls` (chains.py's `Chains` in the service,
a fake in tests) and hands the two calls to `run_cascade`. What each call returned is
kept, typed, in a `_Run`, so nothing is read back out of the cascade's generic
`Answer.raw`. Logprobs are read when the upstream returned them
(`choices[0].logprobs.content[*].logprob`); the proxy does not ask for them, so the
logprob signals abstain unless the client did.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

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
from llmtriage.cascade.artifact import read_verifier_manifest
from llmtriage.cascade.base import AnswerVerifier
from llmtriage.cascade.verifier import Verifier
from llmtriage.execution.served import CascadeInfo, Served
from llmtriage.execution.streaming import RoutedStream
from llmtriage.fallback.attempts import Attempt
from llmtriage.fallback.errors import ChainExhausted
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse
from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import RoutingConfig
from llmtriage.routing.decision import Decision
from llmtriage.scoring.artifact import MANIFEST
from llmtriage.scoring.scorer import Scorer


class TierCalls(Protocol):
    """A decision's fallback chain, whole (`neighbours` overrides the config's
    neighbour_tiers) or opened as a stream."""

    async def complete(
        self, decision: Decision, request: ChatRequest, neighbours: str | None = None
    ) -> Served: ...

    async def open_stream(self, decision: Decision, request: ChatRequest) -> RoutedStream: ...


def request_view(request: ChatRequest) -> RequestView:
    messages = [m.model_dump(exclude_none=True) for m in request.messages]
    return RequestView.from_openai(messages, request.response_format)


def to_answer(served: Served) -> Answer[Served]:
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


def price(answer: Answer[Served]) -> Decimal | None:
    """A whole answer's cost; None for a stream, which carries no Served (its cost is
    known only at its end)."""
    return answer.raw.cost if answer.raw is not None else None


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


@dataclass
class _Run:
    """What one cascade run got from each tier's chain."""

    cheap: Served | None = None
    strong: Served | None = None
    stream: RoutedStream | None = None  # the strong chain's stream, when streaming
    cheap_failed: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class Cascader:
    """Cheap chain, check, then (when unsure) the decided chain, through `calls`."""

    confidence: CombinedConfidence
    cheap_tier: str
    catalog: Catalog
    calls: TierCalls

    async def answer(
        self, decision: Decision, request: ChatRequest
    ) -> tuple[Served, Decimal | None, tuple[Attempt, ...], CascadeInfo]:
        """The served answer, the cost of both calls, every attempt, and what happened."""
        outcome, info, run = await self.run(decision, request, stream=False)
        final = run.strong if info.escalated else run.cheap
        if final is None:  # the served tier's call returned, so it was recorded
            raise RuntimeError("cascade: the served tier left no answer")
        attempts = final.attempts
        if info.escalated:
            attempts = (*info.cheap_attempts, *attempts)
        return final, outcome.cost_usd, attempts, info

    async def stream(self, decision: Decision, request: ChatRequest) -> RoutedStream:
        """Escalated: the strong chain streams; accepted: the cheap answer is replayed."""
        _, info, run = await self.run(decision, request, stream=True)
        if info.escalated and run.stream is not None:
            opened = run.stream
            opened.cascade, opened.spent_before = info, info.cheap_cost
            opened.attempts = (*info.cheap_attempts, *opened.attempts)
            return opened
        cheap = run.cheap
        if cheap is None:  # accepted means the cheap call answered
            raise RuntimeError("cascade: the accepted cheap tier left no answer")
        return RoutedStream(
            decision,
            cheap.deployment,
            [],
            replay(cheap.response),
            tier=cheap.tier,
            attempts=cheap.attempts,
            cascade=info,
        )

    async def run(
        self, decision: Decision, request: ChatRequest, *, stream: bool
    ) -> tuple[CascadeOutcome[Served], CascadeInfo, _Run]:
        """Cheap chain, check, then (when unsure) the decided chain: whole, or opened as a
        stream when `stream` (its Answer then has no text and no Served)."""
        cheap_decision = self.cheap_decision(decision)
        run = _Run()

        async def cheap(req: ChatRequest) -> Answer[Served]:
            try:
                run.cheap = await self.calls.complete(cheap_decision, req, "none")
            except ChainExhausted as exc:
                run.cheap_failed = tuple(exc.attempts)
                raise
            except ProviderCallError as exc:
                run.cheap_failed = (Attempt.failed(cheap_decision.deployment, exc, 0.0),)
                raise
            return to_answer(run.cheap)

        async def strong(req: ChatRequest) -> Answer[Served]:
            if stream:
                run.stream = await self.calls.open_stream(decision, req)
                return Answer(model=run.stream.deployment.model, text="")
            run.strong = await self.calls.complete(decision, req, None)
            return to_answer(run.strong)

        outcome: CascadeOutcome[Served] = await run_cascade(
            request,
            view=request_view(request),
            cheap=cheap,
            strong=strong,
            confidence=self.confidence,
            price=price,
            cheap_model=cheap_decision.model,
        )
        first = outcome.attempts[0]
        info = CascadeInfo(
            escalated=outcome.escalated,
            reason=outcome.reason,
            cheap_decision=cheap_decision,
            cheap=run.cheap,
            cheap_cost=first.cost_usd or Decimal(0),
            cheap_failed=run.cheap_failed,
        )
        return outcome, info, run

    def cheap_decision(self, decision: Decision) -> Decision:
        """The decision as if the router had picked the cascade's cheap tier."""
        deployment = self.catalog.pick(self.cheap_tier, decision.estimated_tokens)
        return replace(
            decision, tier=self.cheap_tier, deployment=deployment.name, model=deployment.model
        )
