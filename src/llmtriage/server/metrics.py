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
# The bucket boundaries the OpenTelemetry GenAI semantic conventions advise.
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1 ... 67,108,864
DURATION_BUCKETS = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 ... 81.92 s

CONTENT_TYPE = CONTENT_TYPE_LATEST
CLIENT_CLOSED = 499  # a client that went away before its answer started (server/errors.py)


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
        self.novel = Counter(
            "llmtriage_novel_prompts",
            "Prompts scored whose novelty is above the artifact's threshold (unlike its "
            "training data).",
            registry=r,
        )
        self.truncated = Counter(
            "llmtriage_truncated_prompts", "Prompts cut to the scoring length limit.", registry=r
        )
        self.model_info = Gauge(
            "llmtriage_model_info", "The loaded artifact (value 1).", ("model_version",), registry=r
        )
        self.ready = Gauge(
            "llmtriage_ready", "1 when the model is loaded and self-tested.", registry=r
        )

        # Upstream model calls, named after the OpenTelemetry GenAI semantic conventions
        # (gen_ai.client.token.usage, gen_ai.client.operation.duration) so GenAI dashboards
        # work unchanged.
        genai = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per upstream call, by token type (input, output).",
            (*genai, "gen_ai_token_type"),
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.operation_duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Upstream call time, from routing to the last byte of the answer.",
            genai,
            buckets=DURATION_BUCKETS,
            registry=r,
        )

        # Routing: local to this replica; /v1/stats has the all-replica totals.
        self.decisions = Counter(
            "llmtriage_routing_decisions",
            "Routing decisions by tier and reason (rule, classifier, passthrough, ...).",
            ("tier", "reason"),
            registry=r,
        )
        self.cache_lookups = Counter(
            "llmtriage_decision_cache_lookups",
            "Decision-cache lookups by path (score, route) and result (hit, miss).",
            ("path", "result"),
            registry=r,
        )
        self.escalations = Counter(
            "llmtriage_routing_escalations",
            "Requests retried on a stronger tier after a doubtful answer (cascade).",
            ("from_tier", "to_tier"),
            registry=r,
        )
        self.fallbacks = Counter(
            "llmtriage_routing_fallbacks",
            "Upstream calls moved to another deployment after a failure.",
            ("from_deployment", "to_deployment"),
            registry=r,
        )
        self.cost_spent = Counter(
            "llmtriage_cost_spent_usd",
            "USD spent upstream (usage x the serving deployment's prices), by tier.",
            ("tier",),
            registry=r,
        )
        self.cost_baseline = Counter(
            "llmtriage_cost_baseline_usd",
            "USD the same usage would have cost on the strongest tier's first deployment.",
            registry=r,
        )
        # A gauge, not a counter: a deployment priced above the baseline makes it go down.
        self.cost_saved = Gauge(
            "llmtriage_cost_saved_usd",
            "Baseline minus spent since start (rate it via the two counters).",
            registry=r,
        )

        # The shared store: 1 while Redis is unreachable and this replica runs on local state.
        self.store_degraded = Gauge(
            "llmtriage_store_degraded",
            "1 while the shared store (Redis) is unreachable and local state is used.",
            registry=r,
        )
        self.store_info = Gauge(
            "llmtriage_store_info", "The store backend (value 1).", ("backend",), registry=r
        )

        # Connections and limits (server/protocol.py, server/ratelimit.py).
        self.connections_open = Gauge(
            "llmtriage_connections_open",
            "Open HTTP connections (under `llmtriage serve`).",
            registry=r,
        )
        self.connections_closed = Counter(
            "llmtriage_connections_closed",
            "Connections closed by a limit: header_timeout, body_timeout, idle (nothing sent "
            "within header_timeout_s), keepalive, limit (max_connections), invalid_http.",
            ("reason",),
            registry=r,
        )
        self.rate_limited = Counter(
            "llmtriage_rate_limited_requests",
            "Requests refused with 429 by the per-key rate limit, by endpoint group.",
            ("group",),
            registry=r,
        )

        # Bound children cached by label values: `labels()` takes a lock and builds
        # a key on every call, a measurable share of a ~0.3 ms request.
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: Counter | Histogram | Gauge, *values: str) -> Any:
        key = (id(metric), *values)
        bound = self._children.get(key)
        if bound is None:
            bound = self._children[key] = metric.labels(*values)
        return bound

    def observe_score(
        self, score: float, tier: str, truncated: bool, *, novel: bool = False
    ) -> None:
        self.scores.observe(score)
        self.child(self.tiers, tier).inc()
        if truncated:
            self.truncated.inc()
        if novel:
            self.novel.inc()

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.child(self.latency, endpoint).observe(seconds)
        self.child(self.requests, endpoint, method, str(status)).inc()

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
        started = False
        gone = False

        async def observing_receive() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not started:
                gone = True
            return message

        async def observing_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, observing_receive, observing_send)
        finally:
            if gone and status == 500:
                status = CLIENT_CLOSED  # the client went away: not a server error
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            self.metrics.observe_request(endpoint, scope["method"], status, seconds)
