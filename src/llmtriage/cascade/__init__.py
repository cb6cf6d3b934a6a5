"""Cascade: answer with the cheap tier, check the answer, escalate when unsure.

    view = RequestView.from_openai(messages, response_format)
    confidence = build_confidence(config, SignalDeps(verifier=Verifier.load(path)))
    outcome = await run_cascade(request, view=view, cheap=..., strong=...,
                                confidence=confidence, price=PriceTable({...}))

The verifier (cascade.verifier) is imported on demand: it needs numpy and an embedder,
the checks do not.
"""

from llmtriage.cascade.base import (
    AnswerContext,
    AnswerVerifier,
    ConfidenceSignal,
    RequestView,
    SignalResult,
)
from llmtriage.cascade.combine import (
    CombinedConfidence,
    ConfidenceVerdict,
    build_confidence,
)
from llmtriage.cascade.config import CascadeConfig, SignalConfig
from llmtriage.cascade.executor import (
    Answer,
    Attempt,
    CascadeOutcome,
    Price,
    PriceTable,
    TokenUsage,
    run_cascade,
)
from llmtriage.cascade.registry import SIGNALS
from llmtriage.cascade.signals import SignalDeps

__all__ = [
    "SIGNALS",
    "Answer",
    "AnswerContext",
    "AnswerVerifier",
    "Attempt",
    "CascadeConfig",
    "CascadeOutcome",
    "CombinedConfidence",
    "ConfidenceSignal",
    "ConfidenceVerdict",
    "Price",
    "PriceTable",
    "RequestView",
    "SignalConfig",
    "SignalDeps",
    "SignalResult",
    "TokenUsage",
    "build_confidence",
    "run_cascade",
]
