"""Fallback chains: when a deployment fails, the next one answers, within one deadline.

    taxonomy.py   what each provider error means: retry here, next, larger context, stop
    retry.py      same-deployment retries: Retry-After, jittered backoff, never past the deadline
    breaker.py    per-deployment circuit breakers shared across replicas through the Store
    plan.py       the order: chosen deployment, its tier, then the neighbouring tier(s)
    chain.py      the loop that runs it, keeping one Attempt per call or skip
    resume.py     a stream broken midway, continued on the next deployment of its chain
    attempts.py   Attempt, and how attempts are summarised for headers and errors
    errors.py     ChainExhausted (the web layer's 503)
    metrics.py    Prometheus counters and the breaker-state gauge

This package knows providers and the store, never routing: execution/chains.py builds a
`Chain` from the config and hands it its deployments.
"""

from __future__ import annotations

from llmtriage.fallback.attempts import Attempt
from llmtriage.fallback.breaker import Breakers, BreakerSettings, BreakerState
from llmtriage.fallback.chain import Answered, Chain, ChainSettings
from llmtriage.fallback.errors import ChainExhausted, FallbackError
from llmtriage.fallback.metrics import FallbackMetrics
from llmtriage.fallback.plan import chain_order
from llmtriage.fallback.retry import RetryPolicy
from llmtriage.fallback.taxonomy import Action, Health, classify

__all__ = [
    "Action",
    "Answered",
    "Attempt",
    "BreakerSettings",
    "BreakerState",
    "Breakers",
    "Chain",
    "ChainExhausted",
    "ChainSettings",
    "FallbackError",
    "FallbackMetrics",
    "Health",
    "RetryPolicy",
    "chain_order",
    "classify",
]
