"""Prometheus metrics of one app, on its own registry.

A per-app `CollectorRegistry` (never the global one) lets tests and benchmarks
build many apps in one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scoring takes ~0.1 ms and a request well under 1 ms, so buckets start at 50 µs.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
SCORE_BUCKETS = (*(round(0.05 * i, 2) for i in range(1, 20)), 1.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "llmtriage_http_requests",
            "HTTP requests by route template, method and status.",
            ("endpoint", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "llmtriage_http_request_duration_seconds",
            "Time from request start to the last response byte handed to the server.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scoring_latency = Histogram(
            "llmtriage_scoring_duration_seconds",
            "Time spent in the scorer (embedding + linear head) per scoring call.",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scores = Histogram(
            "llmtriage_score", "Complexity scores returned.", buckets=SCORE_BUCKETS, registry=r
        )
        self.tiers = Counter("llmtriage_tier", "Prompts scored, by tier.", ("tier",), registry=r)
        self.truncated = Counter(
            "llmtriage_truncated_prompts", "Prompts cut to the scoring length limit.", registry=r
        )
        self.model_info = Gauge(
            "llmtriage_model_info", "The loaded artifact (value 1).", ("model_version",), registry=r
        )
        self.ready = Gauge(
            "llmtriage_ready", "1 when the model is loaded and self-tested.", registry=r
        )

        # Bound children cached by label values: `labels()` takes a lock and builds
        # a key on every call, a measurable share of a ~0.3 ms request.
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (id(metric), *values)
        bound = self._children.get(key)
        if bound is None:
            bound = self._children[key] = metric.labels(*values)
        return bound

    def observe_score(self, score: float, tier: str, truncated: bool) -> None:
        self.scores.observe(score)
        self.child(self.tiers, tier).inc()
        if truncated:
            self.truncated.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request (413s and 500s included) and times it.

    The endpoint label is the matched route's template (set by the router on the
    shared scope), so unknown paths cannot blow up label cardinality.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the app dies before starting a response

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            metrics = self.metrics
            metrics.child(metrics.latency, endpoint).observe(time.perf_counter() - start)
            metrics.child(metrics.requests, endpoint, scope["method"], str(status)).inc()
