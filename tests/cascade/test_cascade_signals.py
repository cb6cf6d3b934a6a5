"""Each confidence signal on hand-made answers, the combination, and the config."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from llmtriage.cascade import (
    SIGNALS,
    AnswerContext,
    CascadeConfig,
    CombinedConfidence,
    RequestView,
    SignalDeps,
    build_confidence,
)
from llmtriage.cascade.signals import (
    EmptyAnswer,
    InvalidJson,
    MeanLogprob,
    MinLogprob,
    Refusal,
    Truncated,
    VerifierSignal,
)
from llmtriage.errors import ConfigError

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]


def ctx(answer: str = "4", **kw: object) -> AnswerContext:
    return AnswerContext(messages=MESSAGES, prompt="What is 2+2?", answer=answer, **kw)  # type: ignore[arg-type]


class FixedVerifier:
    def __init__(self, p: float) -> None:
        self.p = p
        self.calls = 0

    def probability(self, prompt: str, answer: str) -> float:
        self.calls += 1
        return self.p


def test_request_view_reads_last_user_turn_and_json_mode() -> None:
    view = RequestView.from_openai(MESSAGES, {"type": "json_object"})
    assert view.prompt == "What is 2+2?" and view.json_requested
    assert not RequestView.from_openai(MESSAGES, {"type": "text"}).json_requested
    assert not RequestView.from_openai(MESSAGES, None).json_requested


@pytest.mark.parametrize(
    ("answer", "tool_calls", "score"), [("4", 0, 1.0), ("  \n", 0, 0.0), ("", 1, 1.0)]
)
def test_empty_answer(answer: str, tool_calls: int, score: float) -> None:
    assert EmptyAnswer().check(ctx(answer, tool_calls=tool_calls)).score == score


@pytest.mark.parametrize(("reason", "score"), [("stop", 1.0), ("length", 0.0), (None, 1.0)])
def test_truncated(reason: str | None, score: float) -> None:
    assert Truncated().check(ctx(finish_reason=reason)).score == score


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("The answer is 4.", 1.0),
        ("I'm sorry, but I can't help with that.", 0.0),
        ("I\u2019m unable to browse the web.", 0.0),  # curly apostrophe
        ("As an AI language model, I cannot", 0.0),
        ("It is probably 4, but I'm not sure.", 0.0),  # hedge anywhere
        ("x" * 400 + " I'm sorry, but that quote is from the book.", 1.0),  # refusal too deep
    ],
)
def test_refusal_and_hedging(answer: str, score: float) -> None:
    assert Refusal().check(ctx(answer)).score == score


def test_hedging_can_be_switched_off() -> None:
    assert Refusal(hedges=False).check(ctx("4, I'm not sure")).score == 1.0


@pytest.mark.parametrize(
    ("answer", "json_requested", "applies", "score"),
    [
        ('{"a": 1}', True, True, 1.0),
        ('{"a": 1', True, True, 0.0),
        ("Sure! Here it is: {}", True, True, 0.0),
        ("not json", False, False, 1.0),  # JSON not requested: abstains
    ],
)
def test_invalid_json(answer: str, json_requested: bool, applies: bool, score: float) -> None:
    result = InvalidJson().check(ctx(answer, json_requested=json_requested))
    assert (result.applies, result.score) == (applies, score)


def test_json_fence_only_when_allowed() -> None:
    fenced = ctx('```json\n{"a": 1}\n```', json_requested=True)
    assert InvalidJson().check(fenced).score == 0.0
    assert InvalidJson(allow_fence=True).check(fenced).score == 1.0


def test_logprob_signals() -> None:
    sure = ctx(logprobs=[-0.01, -0.2, -0.05])
    unsure = ctx(logprobs=[-2.0, -1.5, -0.5])  # mean -1.33 < ln 0.35 = -1.05
    spike = ctx(logprobs=[-0.01, -12.0, -0.01])  # one token below ln 1e-4 = -9.2
    assert MeanLogprob().check(sure).score == 1.0
    assert MeanLogprob().check(unsure).score == 0.0
    assert MinLogprob().check(spike).score == 0.0 and MinLogprob().check(unsure).score == 1.0
    assert MeanLogprob(floor=math.log(0.1)).check(unsure).score == 1.0
    for signal in (MeanLogprob(), MinLogprob()):
        assert not signal.check(ctx(logprobs=None)).applies


def test_verifier_signal_reports_probability_and_skips_empty() -> None:
    verifier = FixedVerifier(0.37)
    signal = VerifierSignal(verifier=verifier)
    assert signal.check(ctx("4")).score == pytest.approx(0.37)
    assert not signal.check(ctx("")).applies and verifier.calls == 1


def test_combination_is_min_and_stops_at_first_failed_check() -> None:
    verifier = FixedVerifier(0.6)
    combined = CombinedConfidence(
        [EmptyAnswer(), Truncated(), VerifierSignal(verifier=verifier)], threshold=0.5
    )
    ok = combined.check(ctx("4"))
    assert ok.accept and ok.score == pytest.approx(0.6)
    cut = combined.check(ctx("4", finish_reason="length"))
    assert not cut.accept and cut.score == 0.0 and "truncated" in cut.reason
    assert verifier.calls == 1  # the truncated answer never reached the verifier
    strict = CombinedConfidence([VerifierSignal(verifier=verifier)], threshold=0.7)
    assert not strict.check(ctx("4")).accept


def test_no_applicable_signal_accepts() -> None:
    verdict = CombinedConfidence([InvalidJson()], threshold=0.9).check(ctx("4"))
    assert verdict.accept and verdict.score == 1.0


def test_config_accepts_bare_names_and_builds_signals() -> None:
    config = CascadeConfig(
        enabled=True,
        signals=["empty", {"name": "mean_logprob", "options": {"floor": -2.0}}, "verifier"],
        verifier_path="models/verifier",
        threshold=0.4,
    )
    confidence = build_confidence(config, SignalDeps(verifier=FixedVerifier(0.5)))
    assert [s.name for s in confidence.signals] == ["empty", "mean_logprob", "verifier"]
    assert confidence.threshold == 0.4
    assert set(SIGNALS) >= {"empty", "truncated", "json", "refusal", "verifier"}


@pytest.mark.parametrize(
    "bad",
    [
        {"signals": ["nonsense"]},
        {"threshold": 1.5},
        {"band": (0.8, 0.2)},
        {"cheap_tier": "strong"},
        {"signals": ["verifier"]},  # needs verifier_path
        {"unknown_field": 1},
    ],
)
def test_config_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CascadeConfig(**bad)  # type: ignore[arg-type]


def test_build_refuses_bad_options_and_missing_verifier() -> None:
    with pytest.raises(ConfigError):
        build_confidence(CascadeConfig(signals=[{"name": "empty", "options": {"x": 1}}]))  # type: ignore[list-item]
    config = CascadeConfig(signals=["verifier"], verifier_path="v")
    with pytest.raises(ConfigError, match="verifier"):
        build_confidence(config)


def test_band_decides_where_the_cascade_applies() -> None:
    config = CascadeConfig(enabled=True, band=(0.3, 0.7))
    assert config.applies(0.5) and not config.applies(0.2) and not config.applies(0.8)
    assert not CascadeConfig(enabled=False).applies(0.5)
