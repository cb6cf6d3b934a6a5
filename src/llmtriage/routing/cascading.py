"""The cascade (llmtriage.cascade) in the proxy's terms: ChatResponse ↔ Answer, the
verifier loaded at start-up, and a cheap answer replayed as a stream.

The service (routing/service.py) runs each tier as a fallback chain and hands the two
calls to `run_cascade`; what it keeps of each chain is a `Served`. Logprobs are read
when the upstream returned them (`choices[0].logprobs.content[*].logprob`); the proxy
does not ask for them, so the logprob signals abstain unless the client did.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from llmtriage.cascade import (
    Answer,
    CombinedConfidence,
    RequestView,
    SignalDeps,
    TokenUsage,
    build_confidence,
)
from llmtriage.cascade.base import AnswerVerifier
from llmtriage.fallback.attempts import Attempt
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse
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
