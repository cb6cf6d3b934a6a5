"""The confidence signals: pass/fail checks and the verifier's probability.

Checks return 1.0 (pass) or 0.0 (fail); the verifier returns P(answer good). The
combination (cascade.combine) takes the minimum, so any failed check escalates
and otherwise the verifier's probability meets the threshold.

The logprob floors are heuristics, not fitted: the benchmark data has no token
logprobs. They only catch answers the model itself was unsure of.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from llmtriage.cascade.base import (
    AnswerContext,
    AnswerVerifier,
    SignalResult,
    abstained,
    failed,
    passed,
)
from llmtriage.errors import ConfigError

# Openings of refusals, matched case-insensitively in the first REFUSAL_WINDOW
# characters only: deeper in an answer such phrases are usually quoted content.
REFUSAL_PHRASES: tuple[str, ...] = (
    "i'm sorry, but",
    "i am sorry, but",
    "i apologize, but",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
    "as an ai language model",
    "as an ai, i",
    "i don't have access to",
    "i do not have access to",
)
REFUSAL_WINDOW = 300

# Hedges the model uses when it does not know; matched anywhere in the answer.
HEDGE_PHRASES: tuple[str, ...] = (
    "i'm not sure",
    "i am not sure",
    "i'm not certain",
    "i am not certain",
    "i don't know",
    "i do not know",
    "i cannot determine",
    "i can't determine",
    "it is impossible to determine",
    "it's impossible to determine",
    "not enough information",
    "insufficient information",
    "cannot be determined",
)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_JSON_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```\s*$", re.DOTALL)


def _find(text: str, phrases: tuple[str, ...]) -> str | None:
    lowered = text.lower().translate(_APOSTROPHES)
    return next((p for p in phrases if p in lowered), None)


@dataclass(frozen=True)
class SignalDeps:
    """What a signal may need besides its options; injected when the cascade is built."""

    verifier: AnswerVerifier | None = None


class _Simple:
    """Build from options as keyword arguments; unknown options are a config error."""

    name: ClassVar[str]

    @classmethod
    def build(cls, options: Mapping[str, Any], deps: SignalDeps) -> Any:
        try:
            return cls(**options)
        except TypeError as exc:
            raise ConfigError(f"cascade signal {cls.name!r}: bad options {dict(options)}") from exc


class EmptyAnswer(_Simple):
    name = "empty"

    def check(self, ctx: AnswerContext) -> SignalResult:
        if ctx.answer.strip() or ctx.tool_calls:
            return passed(self.name)
        return failed(self.name, "empty answer")


class Truncated(_Simple):
    name = "truncated"

    def check(self, ctx: AnswerContext) -> SignalResult:
        if ctx.finish_reason == "length":
            return failed(self.name, "answer cut off at the token limit (finish_reason=length)")
        return passed(self.name)


class Refusal(_Simple):
    name = "refusal"

    def __init__(self, *, hedges: bool = True) -> None:
        self.hedges = hedges

    def check(self, ctx: AnswerContext) -> SignalResult:
        phrase = _find(ctx.answer[:REFUSAL_WINDOW], REFUSAL_PHRASES)
        if phrase:
            return failed(self.name, f"refusal: {phrase!r}")
        phrase = _find(ctx.answer, HEDGE_PHRASES) if self.hedges else None
        if phrase:
            return failed(self.name, f"hedging: {phrase!r}")
        return passed(self.name)


class InvalidJson(_Simple):
    """Only judges requests that asked for JSON (response_format json_object/json_schema)."""

    name = "json"

    def __init__(self, *, allow_fence: bool = False) -> None:
        self.allow_fence = allow_fence  # accept ```json ... ``` around the object

    def check(self, ctx: AnswerContext) -> SignalResult:
        if not ctx.json_requested:
            return abstained(self.name, "JSON not requested")
        text = ctx.answer.strip()
        fence = _JSON_FENCE.match(text) if self.allow_fence else None
        try:
            json.loads(fence.group(1) if fence else text)
        except ValueError as exc:
            return failed(self.name, f"JSON requested, answer is not JSON: {exc}")
        return passed(self.name)


class MeanLogprob(_Simple):
    """Mean token logprob below `floor` (default ln 0.35: geometric-mean token p < 0.35)."""

    name = "mean_logprob"

    def __init__(self, *, floor: float = math.log(0.35)) -> None:
        self.floor = floor

    def check(self, ctx: AnswerContext) -> SignalResult:
        if not ctx.logprobs:
            return abstained(self.name, "no logprobs")
        mean = sum(ctx.logprobs) / len(ctx.logprobs)
        if mean < self.floor:
            return failed(self.name, f"mean token logprob {mean:.3f} < {self.floor:.3f}")
        return passed(self.name, f"mean token logprob {mean:.3f}")


class MinLogprob(_Simple):
    """Any token below `floor` (default ln 1e-4): the model sampled a near-impossible token."""

    name = "min_logprob"

    def __init__(self, *, floor: float = math.log(1e-4)) -> None:
        self.floor = floor

    def check(self, ctx: AnswerContext) -> SignalResult:
        if not ctx.logprobs:
            return abstained(self.name, "no logprobs")
        low = min(ctx.logprobs)
        if low < self.floor:
            return failed(self.name, f"min token logprob {low:.3f} < {self.floor:.3f}")
        return passed(self.name, f"min token logprob {low:.3f}")


class VerifierSignal:
    """The trained verifier's P(cheap answer good); abstains on answers with no text."""

    name = "verifier"

    def __init__(self, *, verifier: AnswerVerifier) -> None:
        self.verifier = verifier

    @classmethod
    def build(cls, options: Mapping[str, Any], deps: SignalDeps) -> VerifierSignal:
        if options:
            raise ConfigError(f"cascade signal 'verifier' takes no options, got {dict(options)}")
        if deps.verifier is None:
            raise ConfigError("cascade signal 'verifier' needs a verifier artifact (verifier_path)")
        return cls(verifier=deps.verifier)

    def check(self, ctx: AnswerContext) -> SignalResult:
        if not ctx.answer.strip():
            return abstained(self.name, "no answer text to verify")
        p = min(1.0, max(0.0, float(self.verifier.probability(ctx.prompt, ctx.answer))))
        return SignalResult(name=self.name, score=p, reason=f"verifier P(good)={p:.3f}")
