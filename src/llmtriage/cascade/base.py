"""What a confidence signal sees and says.

A signal reads one cheap answer in the context of its request and returns a
confidence in [0, 1]. Signals are synchronous and pure (no I/O): the proxy calls
them between the cheap call and the decision to escalate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from llmtriage.text import scored_text

JSON_FORMATS = frozenset({"json_object", "json_schema"})


@dataclass(frozen=True)
class RequestView:
    """The parts of a request the checks read, computed once per request."""

    messages: Sequence[Mapping[str, Any]]
    prompt: str  # the text the classifier scored (last user turn)
    json_requested: bool = False

    @classmethod
    def from_openai(
        cls, messages: Sequence[Mapping[str, Any]], response_format: Mapping[str, Any] | None
    ) -> RequestView:
        wants_json = response_format is not None and response_format.get("type") in JSON_FORMATS
        return cls(messages=messages, prompt=scored_text(messages), json_requested=wants_json)


@dataclass(frozen=True)
class AnswerContext:
    """One cheap answer with its request: everything a signal may look at."""

    messages: Sequence[Mapping[str, Any]]
    prompt: str
    answer: str
    finish_reason: str | None = "stop"
    logprobs: Sequence[float] | None = None  # one natural-log probability per output token
    json_requested: bool = False
    tool_calls: int = 0  # an answer made only of tool calls has no text and is not "empty"


@dataclass(frozen=True)
class SignalResult:
    """`score` is a confidence in [0, 1]; a signal that cannot judge (no logprobs,
    no JSON requested) says `applies=False` and is left out of the combination."""

    name: str
    score: float
    reason: str
    applies: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"signal {self.name!r} gave score {self.score}, outside [0, 1]")


@runtime_checkable
class ConfidenceSignal(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, ctx: AnswerContext) -> SignalResult: ...


class AnswerVerifier(Protocol):
    """A model of P(the cheap answer is good | prompt, answer); see cascade.verifier."""

    def probability(self, prompt: str, answer: str) -> float: ...


def passed(name: str, reason: str = "ok") -> SignalResult:
    return SignalResult(name=name, score=1.0, reason=reason)


def failed(name: str, reason: str) -> SignalResult:
    return SignalResult(name=name, score=0.0, reason=reason)


def abstained(name: str, reason: str) -> SignalResult:
    return SignalResult(name=name, score=1.0, reason=reason, applies=False)
