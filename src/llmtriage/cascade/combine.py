"""Signals → one confidence and an accept/escalate verdict.

Combination rule: the minimum over the signals that apply. Checks score 0 or 1,
so a failed check forces escalation and, when all pass, the verifier's probability
is the confidence compared with the threshold (1.0 when no graded signal is set).
Signals run in the configured order and stop at the first 0: put cheap checks
before the verifier so an empty or truncated answer never pays for an embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmtriage.cascade.base import AnswerContext, ConfidenceSignal, SignalResult
from llmtriage.cascade.config import CascadeConfig
from llmtriage.cascade.registry import SIGNALS
from llmtriage.cascade.signals import SignalDeps
from llmtriage.errors import ConfigError


@dataclass(frozen=True)
class ConfidenceVerdict:
    score: float
    threshold: float
    accept: bool
    reason: str  # why: the deciding signal's reason
    results: tuple[SignalResult, ...]


class CombinedConfidence:
    def __init__(self, signals: Sequence[ConfidenceSignal], *, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"cascade threshold must be in [0, 1], got {threshold}")
        self.signals = tuple(signals)
        self.threshold = threshold

    def check(self, ctx: AnswerContext) -> ConfidenceVerdict:
        results: list[SignalResult] = []
        deciding: SignalResult | None = None
        for signal in self.signals:
            result = signal.check(ctx)
            results.append(result)
            if result.applies and (deciding is None or result.score < deciding.score):
                deciding = result
            if deciding is not None and deciding.score == 0.0:
                break  # nothing can lower the minimum further
        score = deciding.score if deciding else 1.0
        accept = score >= self.threshold
        reason = deciding.reason if deciding else "no signal applied"
        if deciding is not None and not accept:
            reason = f"{deciding.name}: {reason}"
        return ConfidenceVerdict(score, self.threshold, accept, reason, tuple(results))


def build_confidence(config: CascadeConfig, deps: SignalDeps | None = None) -> CombinedConfidence:
    deps = deps or SignalDeps()
    signals = [SIGNALS[s.name].build(s.options, deps) for s in config.signals]
    return CombinedConfidence(signals, threshold=config.threshold)
