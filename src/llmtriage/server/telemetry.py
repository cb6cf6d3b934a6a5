"""What the service counts, in one place: each event goes to this replica's Prometheus
metrics and to the shared aggregates behind `GET /v1/stats`.

Aggregate fields (one hash per time bucket, see store/aggregates.py):

    scoring.prompts, scoring.tier.<tier>            texts scored by /v1/score(/batch)
    routing.decisions, routing.tier.<tier>,         decisions of answered proxy requests
    routing.reason.<reason>                         (/v1/route, completions, opened streams)
    routing.completions                             upstream answers with usage
    routing.escalations, routing.fallbacks          fed by the cascade / fallback layers
    cache.<path>.hit, cache.<path>.miss             decision cache, path = score | route
    tokens.input, tokens.output
    cost.spent_usd, cost.baseline_usd, cost.saved_usd

Baseline = the same usage priced at the strongest tier's first deployment (what sending
everything to the strongest tier would have cost); saved = baseline - spent.

Every classifier score (fresh or cached) also goes to `scoring.score_log`, the histogram
threshold tuning reads; it is written behind like the aggregates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmtriage.console.feed import ConsoleFeed
from llmtriage.execution.served import CascadeInfo, Completion
from llmtriage.learning.capture import build_record
from llmtriage.learning.log import DecisionLog
from llmtriage.learning.record import new_decision_id
from llmtriage.providers.types import ChatRequest, Usage
from llmtriage.routing.config import DeploymentConfig, RoutingConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision
from llmtriage.scoring.score_log import record_score
from llmtriage.server.metrics import Metrics
from llmtriage.store.aggregates import Aggregates
from llmtriage.store.keys import KeySpace

if TYPE_CHECKING:
    from llmtriage.execution.streaming import RoutedStream

OPERATION = "chat"  # gen_ai.operation.name for chat completions


class Telemetry:
    def __init__(
        self,
        metrics: Metrics,
        aggregates: Aggregates,
        keys: KeySpace,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.aggregates = aggregates
        self.keys = keys
        self._clock = clock
        self.decision_log: DecisionLog | None = None  # set while the log is open
        self.console = ConsoleFeed(aggregates)  # what /console shows (console/feed.py)

    def cache_lookup(self, path: str, hit: bool) -> None:
        """`DecisionCache` observer."""
        result = "hit" if hit else "miss"
        self.metrics.child(self.metrics.cache_lookups, path, result).inc()
        self.aggregates.add(f"cache.{path}.{result}")

    async def scored(self, score: float, tier: str) -> None:
        """One text scored by /v1/score (Prometheus score metrics are observed by the route)."""
        self.aggregates.add("scoring.prompts")
        self.aggregates.add(f"scoring.tier.{tier}")
        self.console.scored(score, tier)
        await self._log_score(score)

    async def decided(self, decision: Decision) -> None:
        m = self.metrics
        m.child(m.decisions, decision.tier, decision.reason.value).inc()
        add = self.aggregates.add
        add("routing.decisions")
        add(f"routing.tier.{decision.tier}")
        add(f"routing.reason.{decision.reason.value}")
        if decision.novel:
            m.novel.inc()
            add("routing.novel")
        self.console.decided(decision)
        if decision.score is not None:
            await self._log_score(decision.score)

    def completed(
        self,
        decision: Decision,
        deployment: DeploymentConfig,
        usage: Usage | None,
        *,
        baseline: DeploymentConfig,
        seconds: float,
    ) -> None:
        """An upstream answer finished (whole response, or a stream's last chunk);
        `deployment` is the one that answered, which a fallback chain may have changed."""
        if deployment.name != decision.deployment:
            self.fell_back(decision.deployment, deployment.name)
        m = self.metrics
        labels = (OPERATION, deployment.provider, deployment.model)
        m.child(m.operation_duration, *labels).observe(seconds)
        if usage is None:
            return
        m.child(m.token_usage, *labels, "input").observe(usage.prompt_tokens)
        m.child(m.token_usage, *labels, "output").observe(usage.completion_tokens)
        spent = cost_usd(usage, deployment)
        would_be = cost_usd(usage, baseline)
        m.child(m.cost_spent, decision.tier).inc(float(spent))
        m.cost_baseline.inc(float(would_be))
        m.cost_saved.inc(float(would_be - spent))
        add = self.aggregates.add
        add("routing.completions")
        add("tokens.input", usage.prompt_tokens)
        add("tokens.output", usage.completion_tokens)
        add("cost.spent_usd", float(spent))
        add("cost.baseline_usd", float(would_be))
        add("cost.saved_usd", float(would_be - spent))

    def escalated(self, from_tier: str, to_tier: str) -> None:
        """For the cascade: a cheap answer was doubted and the request went up a tier."""
        self.metrics.child(self.metrics.escalations, from_tier, to_tier).inc()
        self.aggregates.add("routing.escalations")

    def fell_back(self, from_deployment: str, to_deployment: str) -> None:
        """For fallback chains: a failed call was retried on another deployment."""
        self.metrics.child(self.metrics.fallbacks, from_deployment, to_deployment).inc()
        self.aggregates.add("routing.fallbacks")

    async def _log_score(self, score: float) -> None:
        await record_score(self.aggregates.buffer, self.keys, score, self._clock())


class CallTelemetry:
    """One proxied request's events; a no-op in apps without telemetry (proxy-only tests).

    Created when the handler starts, so the operation duration covers routing, the
    upstream call and, for streams, the time until the last chunk.

    With the decision log on and the request given (`body`, `headers`), the request has
    a `decision_id` (None otherwise) and `log_completion` / `log_stream` queue its row.
    """

    def __init__(
        self,
        telemetry: Telemetry | None,
        config: RoutingConfig,
        *,
        body: ChatRequest | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.config = config
        self.started = time.perf_counter()
        self._log = telemetry.decision_log if telemetry is not None else None
        self._request = (body, headers) if body is not None and headers is not None else None
        self.decision_id = new_decision_id() if self._log and self._request else None
        self._arrived = time.time()

    async def decided(self, decision: Decision) -> None:
        if self.telemetry is not None:
            await self.telemetry.decided(decision)

    def completed(
        self, decision: Decision, deployment: DeploymentConfig, usage: Usage | None
    ) -> None:
        if self.telemetry is not None:
            self.telemetry.completed(
                decision,
                deployment,
                usage,
                baseline=baseline_deployment(self.config),
                seconds=time.perf_counter() - self.started,
            )

    def log_completion(self, done: Completion) -> None:
        """Queue the decision-log row of a whole answer."""
        served = done.served
        self._record(done.decision, served.tier, served.config.name, done, stream=False)

    def log_stream(self, stream: RoutedStream, outcome: str) -> None:
        """Queue the row of a stream that ended ("ok"), failed ("error") or lost its
        client ("client_closed")."""
        self._record(stream.decision, stream.tier, stream.deployment.name, stream, outcome=outcome)

    def _record(
        self,
        decision: Decision,
        tier: str,
        deployment: str,
        call: Completion | RoutedStream,
        *,
        stream: bool = True,
        outcome: str = "ok",
    ) -> None:
        usage = call.response.usage if isinstance(call, Completion) else call.usage
        if self.telemetry is not None:
            baseline = baseline_deployment(self.config)
            self.telemetry.console.finished(
                decision,
                tier=tier,
                deployment=deployment,
                attempts=call.attempts,
                cascade=call.cascade,
                usage=usage,
                cost=call.cost,
                baseline=None if usage is None else cost_usd(usage, baseline),
                latency_s=time.perf_counter() - self.started,
                outcome=outcome,
                decision_id=self.decision_id,
            )
        log, request = self._log, self._request
        if log is None or request is None or self.decision_id is None:
            return
        log.submit(
            build_record(
                decision_id=self.decision_id,
                ts=self._arrived,
                latency_s=time.perf_counter() - self.started,
                body=request[0],
                headers=request[1],
                decision=decision,
                tier=tier,
                deployment=deployment,
                attempts=call.attempts,
                cascade=call.cascade,
                usage=usage,
                cost=call.cost,
                stream=stream,
                outcome=outcome,
                key=log.hash_key,
                log_prompts=log.log_prompts,
            )
        )

    def escalated(self, info: CascadeInfo, decision: Decision) -> None:
        """A cascade escalated: count it, and account the doubted cheap answer's usage."""
        if self.telemetry is None:
            return
        self.telemetry.escalated(info.cheap_decision.tier, decision.tier)
        if info.cheap is not None:
            self.completed(info.cheap_decision, info.cheap.deployment, info.cheap.response.usage)

    def answered_as(self, decision: Decision, info: CascadeInfo | None) -> Decision:
        """The decision the served answer is accounted under (call once per request): an
        accepted cheap answer counts for the cheap tier; an escalation is counted here."""
        if info is None:
            return decision
        if info.escalated:
            self.escalated(info, decision)
            return decision
        return info.cheap_decision


def baseline_deployment(config: RoutingConfig) -> DeploymentConfig:
    """The strongest tier's first deployment: what savings are measured against."""
    return config.tiers[-1].deployments[0]


def stats_view(totals: Mapping[str, float]) -> dict[str, Any]:
    """Aggregate fields (see the module docstring) as the nested JSON of /v1/stats."""

    def n(field: str) -> float | int:
        value = totals.get(field, 0.0)
        return int(value) if value.is_integer() else value

    def group(prefix: str) -> dict[str, float | int]:
        return {f.removeprefix(prefix): n(f) for f in sorted(totals) if f.startswith(prefix)}

    caches: dict[str, dict[str, Any]] = {}
    for field in totals:
        if field.startswith("cache."):
            path, _, result = field.removeprefix("cache.").rpartition(".")
            caches.setdefault(path, {"hits": 0, "misses": 0})
            caches[path]["hits" if result == "hit" else "misses"] = n(field)
    hits = sum(c["hits"] for c in caches.values())
    misses = sum(c["misses"] for c in caches.values())
    for entry in caches.values():
        entry["hit_rate"] = _rate(entry["hits"], entry["misses"])
    return {
        "scoring": {"prompts": n("scoring.prompts"), "tiers": group("scoring.tier.")},
        "routing": {
            "decisions": n("routing.decisions"),
            "tiers": group("routing.tier."),
            "reasons": group("routing.reason."),
            "completions": n("routing.completions"),
            "escalations": n("routing.escalations"),
            "fallbacks": n("routing.fallbacks"),
        },
        "cache": {
            "hits": hits,
            "misses": misses,
            "hit_rate": _rate(hits, misses),
            "paths": dict(sorted(caches.items())),
        },
        "tokens": {"input": n("tokens.input"), "output": n("tokens.output")},
        "cost_usd": {
            "spent": n("cost.spent_usd"),
            "baseline": n("cost.baseline_usd"),
            "saved": n("cost.saved_usd"),
        },
    }


def _rate(hits: float, misses: float) -> float | None:
    total = hits + misses
    return None if total == 0 else hits / total
