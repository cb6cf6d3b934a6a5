"""Run the cheap tier, check its answer, escalate to the strong tier when unsure.

Provider-agnostic: the two tiers are async callables, so the proxy passes its
provider calls and tests pass in-memory fakes. Both attempts are kept in the
outcome with their tokens, cost and latency: an escalated request costs the cheap
call plus the strong call, and the accounting must say so.

Streaming: the cheap answer cannot be streamed to the client before it is checked
(an escalation would then have to retract text already shown). The caller asks the
cheap tier for the whole answer, and on acceptance replays it as chunks. The price
is latency: time to first token becomes the cheap tier's full generation time plus
the check (≈ 1 ms; the verifier embeds two short texts); an escalated request waits
for the whole cheap answer before the strong tier starts. The strong call itself may
stream: a `strong` callable that forwards chunks to the client as they arrive and
returns the assembled Answer at the end fits this signature unchanged.

A cheap call that fails with ProviderError escalates (reason `cheap_failed`); a
failing strong call raises to the caller, whose fallback policy applies.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from llmtriage.cascade.base import AnswerContext, RequestView
from llmtriage.cascade.combine import CombinedConfidence, ConfidenceVerdict
from llmtriage.errors import ProviderError

R = TypeVar("R")  # the request type the tier callables take
P = TypeVar("P")  # the provider's own response object, carried through untouched

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Answer(Generic[P]):
    model: str
    text: str
    usage: TokenUsage = TokenUsage()
    finish_reason: str | None = "stop"
    logprobs: tuple[float, ...] | None = None
    tool_calls: int = 0
    raw: P | None = None  # e.g. the ChatResponse, to return to the client as is


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal

    def cost(self, usage: TokenUsage) -> Decimal:
        tokens_in = Decimal(usage.prompt_tokens) * self.input_per_mtok
        tokens_out = Decimal(usage.completion_tokens) * self.output_per_mtok
        return (tokens_in + tokens_out) / _MILLION


@dataclass(frozen=True)
class PriceTable:
    """model → Price; a model it does not list has unknown (None) cost."""

    prices: Mapping[str, Price] = field(default_factory=dict)

    def __call__(self, answer: Answer[P]) -> Decimal | None:
        price = self.prices.get(answer.model)
        return price.cost(answer.usage) if price else None


Role = Literal["cheap", "strong"]


@dataclass(frozen=True)
class Attempt(Generic[P]):
    role: Role
    model: str
    usage: TokenUsage
    cost_usd: Decimal | None
    latency_s: float
    answer: Answer[P] | None  # None when the call failed
    error: str | None = None


@dataclass(frozen=True)
class CascadeOutcome(Generic[P]):
    final: Answer[P]
    attempts: tuple[Attempt[P], ...]
    escalated: bool
    reason: str  # why the final answer is the one served
    verdict: ConfidenceVerdict | None  # None when the cheap call failed
    check_s: float

    @property
    def served_by(self) -> str:
        return self.final.model

    @property
    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for attempt in self.attempts:
            total = total + attempt.usage
        return total

    @property
    def cost_usd(self) -> Decimal | None:
        """Sum over both attempts; None if any attempt's cost is unknown."""
        total = Decimal(0)
        for attempt in self.attempts:
            if attempt.cost_usd is None:
                return None
            total += attempt.cost_usd
        return total

    @property
    def latency_s(self) -> float:
        return sum(a.latency_s for a in self.attempts) + self.check_s


Tier = Callable[[R], Awaitable[Answer[P]]]
Pricer = Callable[[Answer[P]], Decimal | None]


def _unpriced(answer: Answer[P]) -> Decimal | None:
    return None


async def _attempt(
    role: Role, call: Tier[R, P], request: R, price: Pricer[P], clock: Callable[[], float]
) -> tuple[Answer[P], Attempt[P]]:
    start = clock()
    answer = await call(request)
    return answer, Attempt(role, answer.model, answer.usage, price(answer), clock() - start, answer)


def context_of(view: RequestView, answer: Answer[P]) -> AnswerContext:
    return AnswerContext(
        messages=view.messages,
        prompt=view.prompt,
        answer=answer.text,
        finish_reason=answer.finish_reason,
        logprobs=answer.logprobs,
        json_requested=view.json_requested,
        tool_calls=answer.tool_calls,
    )


async def run_cascade(
    request: R,
    *,
    view: RequestView,
    cheap: Tier[R, P],
    strong: Tier[R, P],
    confidence: CombinedConfidence,
    price: Pricer[P] = _unpriced,
    cheap_model: str = "cheap",
    clock: Callable[[], float] = time.perf_counter,
) -> CascadeOutcome[P]:
    """Serve the cheap answer if `confidence` accepts it, else the strong tier's.

    `view` is what the checks read of the request (RequestView.from_openai builds it);
    `cheap_model` names the cheap tier in the record when its call fails.
    """
    start = clock()
    try:
        cheap_answer, first = await _attempt("cheap", cheap, request, price, clock)
    except ProviderError as exc:
        failed: Attempt[P] = Attempt(
            "cheap", cheap_model, TokenUsage(), Decimal(0), clock() - start, None, str(exc)
        )
        answer, second = await _attempt("strong", strong, request, price, clock)
        return CascadeOutcome(answer, (failed, second), True, "cheap_failed", None, 0.0)
    check_start = clock()
    verdict = confidence.check(context_of(view, cheap_answer))
    check_s = clock() - check_start
    if verdict.accept:
        return CascadeOutcome(cheap_answer, (first,), False, "confident", verdict, check_s)
    answer, second = await _attempt("strong", strong, request, price, clock)
    return CascadeOutcome(answer, (first, second), True, verdict.reason, verdict, check_s)
