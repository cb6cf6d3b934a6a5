"""Prometheus metrics of the fallback chains, on a registry the app passes in.

    llmtriage_fallback_attempts_total{deployment, outcome}   outcome: ok | error | skipped
    llmtriage_fallback_failures_total{deployment, kind}      kind: an ErrorKind, breaker_open,
                                                             deadline
    llmtriage_fallback_requests_total{result}                result: first | fallback | failed
                                                             | resumed (a broken stream went on)
    llmtriage_breaker_state{deployment}                      0 closed, 1 half-open, 2 open
    llmtriage_stream_malformed_chunks_total{deployment}      undecodable stream events skipped

Deployment names come from the config, so label cardinality is bounded.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from llmtriage.fallback.attempts import Attempt
from llmtriage.fallback.breaker import BreakerState


class FallbackMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "llmtriage_fallback_attempts",
            "Calls and skips of deployments in fallback chains, by outcome.",
            ("deployment", "outcome"),
            registry=registry,
        )
        self.failures = Counter(
            "llmtriage_fallback_failures",
            "Failed or skipped attempts, by what went wrong.",
            ("deployment", "kind"),
            registry=registry,
        )
        self.requests = Counter(
            "llmtriage_fallback_requests",
            "Requests by how their chain ended: the first deployment answered, a fallback "
            "did, or none did; resumed: a stream that broke mid-way went on elsewhere.",
            ("result",),
            registry=registry,
        )
        self.breaker_state = Gauge(
            "llmtriage_breaker_state",
            "Circuit breaker per deployment as this replica last saw it: "
            "0 closed, 1 half-open, 2 open.",
            ("deployment",),
            registry=registry,
        )
        self.malformed_chunks = Counter(
            "llmtriage_stream_malformed_chunks",
            "Undecodable SSE events skipped in upstream streams (past the per-stream limit "
            "the stream counts as broken).",
            ("deployment",),
            registry=registry,
        )
        # Bound children by label values: `labels()` locks and builds a key on every call.
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, metric: Counter | Gauge, *values: str) -> Any:
        key = (id(metric), *values)
        bound = self._children.get(key)
        if bound is None:
            bound = self._children[key] = metric.labels(*values)
        return bound

    def attempt(self, attempt: Attempt) -> None:
        outcome = "ok" if attempt.ok else ("error" if attempt.called else "skipped")
        self._child(self.attempts, attempt.deployment, outcome).inc()
        if not attempt.ok:
            self._child(self.failures, attempt.deployment, attempt.kind).inc()

    def request(self, result: str) -> None:
        self._child(self.requests, result).inc()

    def malformed(self, deployment: str) -> None:
        self._child(self.malformed_chunks, deployment).inc()

    def breaker(self, deployment: str, state: BreakerState) -> None:
        self._child(self.breaker_state, deployment).set(int(state))
