"""run_cascade with in-memory tiers: who answers, and what both attempts cost."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from llmtriage.cascade import (
    Answer,
    CombinedConfidence,
    Price,
    PriceTable,
    RequestView,
    TokenUsage,
    run_cascade,
)
from llmtriage.cascade.signals import EmptyAnswer, Truncated, VerifierSignal
from llmtriage.errors import ProviderError

REQUEST = {"messages": [{"role": "user", "content": "What is 17 * 23?"}]}
VIEW = RequestView.from_openai(REQUEST["messages"], None)
# $1 / $2 per M tokens cheap, $10 / $30 strong
PRICES = PriceTable(
    {
        "cheap-m": Price(Decimal("1"), Decimal("2")),
        "strong-m": Price(Decimal("10"), Decimal("30")),
    }
)
CHEAP_USAGE = TokenUsage(prompt_tokens=1000, completion_tokens=500)  # $0.001 + $0.001
STRONG_USAGE = TokenUsage(prompt_tokens=1000, completion_tokens=800)  # $0.010 + $0.024


class Tier:
    """An in-memory provider: returns a fixed answer (or raises) and records calls."""

    def __init__(self, answer: Answer[str] | Exception) -> None:
        self.answer = answer
        self.requests: list[object] = []

    async def __call__(self, request: object) -> Answer[str]:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Verifier:
    def __init__(self, p: float) -> None:
        self.p = p

    def probability(self, prompt: str, answer: str) -> float:
        return self.p


def cheap_answer(text: str = "391", finish: str = "stop") -> Answer[str]:
    return Answer("cheap-m", text, CHEAP_USAGE, finish_reason=finish, raw="cheap-raw")


STRONG = Answer("strong-m", "17 * 23 = 391", STRONG_USAGE, raw="strong-raw")


def confidence(p: float, threshold: float = 0.5) -> CombinedConfidence:
    signals = [EmptyAnswer(), Truncated(), VerifierSignal(verifier=Verifier(p))]
    return CombinedConfidence(signals, threshold=threshold)


def ticking(step: float = 0.5) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


async def _run(cheap: Tier, strong: Tier, p: float, **kw: object):  # type: ignore[no-untyped-def]
    clock = ticking()
    return await run_cascade(
        REQUEST,
        view=VIEW,
        cheap=cheap,
        strong=strong,
        confidence=confidence(p),
        price=PRICES,
        clock=lambda: next(clock),
        **kw,  # type: ignore[arg-type]
    )


async def test_confident_answer_is_served_without_calling_strong() -> None:
    cheap, strong = Tier(cheap_answer()), Tier(STRONG)
    outcome = await _run(cheap, strong, p=0.9)
    assert not outcome.escalated and outcome.reason == "confident"
    assert outcome.final.raw == "cheap-raw" and outcome.served_by == "cheap-m"
    assert strong.requests == [] and cheap.requests == [REQUEST]
    assert len(outcome.attempts) == 1
    assert outcome.cost_usd == Decimal("0.002")
    assert outcome.verdict is not None and outcome.verdict.score == pytest.approx(0.9)


async def test_unsure_answer_escalates_and_both_attempts_are_billed() -> None:
    cheap, strong = Tier(cheap_answer()), Tier(STRONG)
    outcome = await _run(cheap, strong, p=0.2)
    assert outcome.escalated and outcome.served_by == "strong-m"
    assert outcome.final.raw == "strong-raw" and "verifier" in outcome.reason
    first, second = outcome.attempts
    assert (first.role, first.model, second.role, second.model) == (
        "cheap",
        "cheap-m",
        "strong",
        "strong-m",
    )
    assert first.cost_usd == Decimal("0.002") and second.cost_usd == Decimal("0.034")
    assert outcome.cost_usd == Decimal("0.036")
    assert outcome.usage == TokenUsage(prompt_tokens=2000, completion_tokens=1300)
    assert strong.requests == [REQUEST]


async def test_failed_check_escalates_even_with_a_confident_verifier() -> None:
    outcome = await _run(Tier(cheap_answer(finish="length")), Tier(STRONG), p=0.99)
    assert outcome.escalated and "truncated" in outcome.reason


async def test_latency_counts_both_calls_and_the_check() -> None:
    # ticking clock: each clock() call advances 0.5 s
    outcome = await _run(Tier(cheap_answer()), Tier(STRONG), p=0.1)
    assert [a.latency_s for a in outcome.attempts] == [0.5, 0.5]
    assert outcome.check_s == 0.5 and outcome.latency_s == 1.5


async def test_cheap_failure_escalates_and_is_recorded() -> None:
    outcome = await _run(Tier(ProviderError("upstream 503")), Tier(STRONG), p=0.9)
    failed, second = outcome.attempts
    assert outcome.escalated and outcome.reason == "cheap_failed" and outcome.verdict is None
    assert failed.answer is None and failed.error == "upstream 503"
    assert failed.cost_usd == Decimal(0) and outcome.cost_usd == Decimal("0.034")
    assert second.model == "strong-m"


async def test_strong_failure_reaches_the_caller() -> None:
    with pytest.raises(ProviderError):
        await _run(Tier(cheap_answer()), Tier(ProviderError("down")), p=0.1)


async def test_unknown_price_makes_total_cost_unknown() -> None:
    clock = ticking()
    outcome = await run_cascade(
        REQUEST,
        view=VIEW,
        cheap=Tier(cheap_answer()),
        strong=Tier(STRONG),
        confidence=confidence(0.1),
        price=PriceTable({"cheap-m": Price(Decimal("1"), Decimal("2"))}),
        clock=lambda: next(clock),
    )
    assert outcome.attempts[0].cost_usd == Decimal("0.002")
    assert outcome.attempts[1].cost_usd is None and outcome.cost_usd is None
