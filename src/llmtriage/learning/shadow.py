"""Shadow comparisons: for a sample of answered requests, the other tier answers the same
request off the request path and a judge compares the two answers (judge.py).

The proxy hands a request over (`offer`) only once its whole answer has been served (a
stream: once it ended); `offer` never waits. It takes `fraction` of each auto model
name's requests (`routers` per name) and, within the budget, puts a job on a bounded
queue; a full queue drops the job and counts it. Background workers (`concurrency`)
then, per job:

    1. run the other tier's fallback chain (its own deployments only) on the request:
       the cheapest allowed tier, or the strongest allowed one when the cheapest answered
       (tiers a rule forbade for the request are never used);
    2. ask the judge, in both orders, which answer is better;
    3. write two verdicts on the request's logged decision (sources
       "shadow:<routed deployment>" and "shadow:<shadow deployment>"), once the decision
       log has written its row.

Budget (per replica): a token bucket of `max_per_minute` shadowed requests (as many at
once, refilled at max_per_minute/60 a second), and `max_usd_per_day` of shadow plus
judge cost, summed over the UTC day; jobs already queued when the day's cost runs out
still run. Nothing here can fail or slow a request: a failed shadow call, a judge that
is down or does not answer A/B/tie, or a store error leave the verdict missing, counted.

Metrics: llmtriage_shadow_calls_total (shadow chain calls), llmtriage_shadow_skipped_total
{reason: budget_rpm | budget_usd | queue_full | no_other_tier | shutdown},
llmtriage_shadow_verdicts_total (comparisons written), llmtriage_shadow_missing_total
{reason: shadow_failed | judge_failed | no_decision | store_error},
llmtriage_shadow_cost_usd_total{kind: shadow | judge}, llmtriage_shadow_queue_depth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from llmtriage.errors import LlmtriageError
from llmtriage.execution.chains import Chains
from llmtriage.learning.judge import Judge, JudgeError, answer_text
from llmtriage.learning.record import Verdict
from llmtriage.learning.store import DecisionStoreError
from llmtriage.providers.types import ChatChunk, ChatRequest
from llmtriage.routing.catalog import Catalog
from llmtriage.routing.config import ShadowConfig
from llmtriage.routing.decision import Decision

log = logging.getLogger(__name__)
SHADOW = "shadow:"
SKIP_REASONS = ("budget_rpm", "budget_usd", "queue_full", "no_other_tier", "shutdown")
MISSING_REASONS = ("shadow_failed", "judge_failed", "no_decision", "store_error")


class VerdictSink(Protocol):
    """Where verdicts go: the decision log (log.py's DecisionLog)."""

    async def settled(self, decision_id: str, wait_s: float = ...) -> None: ...

    async def put_verdict(self, verdict: Verdict) -> bool: ...


@dataclass(frozen=True)
class ShadowJob:
    decision_id: str
    decision: Decision  # as routed: its router, forbidden tiers and token estimate
    tier: str  # the tier that answered
    deployment: str  # the deployment that answered
    request: ChatRequest
    answer: str  # the served answer's text


def other_tier(catalog: Catalog, tier: str, forbidden: Collection[str]) -> str | None:
    """The tier to compare with (see the module docstring); None when there is none."""
    allowed = [t for t in catalog.tiers if t not in forbidden]
    if not allowed:
        return None
    other = allowed[-1] if tier == allowed[0] else allowed[0]
    return None if other == tier else other


class StreamText:
    """A stream's answer text (choice 0's content), gathered as its chunks pass."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def see(self, chunk: ChatChunk) -> None:
        for choice in chunk.choices:
            if int(choice.get("index", 0)) == 0:
                content = (choice.get("delta") or {}).get("content")
                if isinstance(content, str):
                    self._parts.append(content)

    @property
    def text(self) -> str:
        return "".join(self._parts)


class Budget:
    """Requests a minute (token bucket) and USD a UTC day."""

    def __init__(
        self,
        per_minute: float,
        usd_per_day: Decimal,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.capacity = max(1.0, per_minute)
        self.rate = per_minute / 60.0
        self.usd_per_day = usd_per_day
        self._monotonic = monotonic
        self._wall = wall
        self._tokens = self.capacity
        self._at = monotonic()
        self._day = self._today()
        self._spent = Decimal(0)

    def _today(self) -> int:
        return int(self._wall() // 86400)

    @property
    def spent_today(self) -> Decimal:
        if self._today() != self._day:
            self._day, self._spent = self._today(), Decimal(0)
        return self._spent

    def take(self) -> str | None:
        """None: one request may go; else why not (a skip reason)."""
        if self.spent_today >= self.usd_per_day:
            return "budget_usd"
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return "budget_rpm"
        self._tokens -= 1.0
        return None

    def refund(self) -> None:
        self._tokens = min(self.capacity, self._tokens + 1.0)

    def spend(self, usd: Decimal) -> None:
        self._spent = self.spent_today + usd  # spent_today rolls the day over first


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.calls = Counter(
            "llmtriage_shadow_calls", "Shadow calls made to the other tier.", registry=registry
        )
        self.skipped = Counter(
            "llmtriage_shadow_skipped",
            "Sampled requests not shadowed: over budget, queue full, no other tier, shutdown.",
            ("reason",),
            registry=registry,
        )
        self.verdicts = Counter(
            "llmtriage_shadow_verdicts", "Shadow comparisons judged and written.", registry=registry
        )
        self.missing = Counter(
            "llmtriage_shadow_missing",
            "Shadow comparisons without a verdict: the shadow call or judge failed, or the "
            "decision or store was not there.",
            ("reason",),
            registry=registry,
        )
        self.cost = Counter(
            "llmtriage_shadow_cost_usd", "USD spent on shadow and judge calls.", ("kind",),
            registry=registry,
        )  # fmt: skip
        self.queued = Gauge(
            "llmtriage_shadow_queue_depth", "Shadow jobs waiting.", registry=registry
        )


class Shadower:
    def __init__(
        self,
        config: ShadowConfig,
        chains: Chains,
        judge: Judge,
        *,
        auto_names: Collection[str],
        budget: Budget | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.chains = chains
        self.judge = judge
        self.auto_names = frozenset(auto_names)
        self.budget = budget or Budget(config.max_per_minute, config.max_usd_per_day)
        self._rng = rng or random.Random(config.seed)  # seed None: from the OS
        self._sink: VerdictSink | None = None
        self._queue: asyncio.Queue[ShadowJob] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self.metrics = ShadowMetrics(None)
        # Plain counts beside the metrics, for tests and the log line at shutdown.
        self.sampled = self.calls = self.judged = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.missing = dict.fromkeys(MISSING_REASONS, 0)

    # ---- request path ---------------------------------------------------------------

    def sample(self, decision: Decision) -> bool:
        """Whether this request is to be shadowed once answered (draws the sample)."""
        if self._queue is None or decision.requested_model not in self.auto_names:
            return False
        fraction = self.config.routers.get(decision.requested_model, self.config.fraction)
        return fraction > 0 and self._rng.random() < fraction

    def offer(self, job: ShadowJob) -> bool:
        """Queue a sampled request's job, within the budget. Never waits."""
        queue = self._queue
        if queue is None:
            return False
        self.sampled += 1
        if other_tier(self.chains.catalog, job.tier, job.decision.forbidden_tiers) is None:
            return self._skip("no_other_tier")
        reason = self.budget.take()
        if reason is not None:
            return self._skip(reason)
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            self.budget.refund()  # not called: the minute's allowance stays
            return self._skip("queue_full")
        return True

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return (self._queue.qsize() if self._queue is not None else 0) + self._running

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self, sink: VerdictSink, registry: CollectorRegistry | None = None) -> None:
        self._sink = sink
        self.metrics = ShadowMetrics(registry)
        queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=self.config.queue_size)
        self.metrics.queued.set_function(queue.qsize)
        self._queue = queue
        self._workers = [
            asyncio.create_task(self._work(queue), name=f"llmtriage-shadow-{i}")
            for i in range(self.config.concurrency)
        ]
        log.info(
            "shadow comparisons on: judge %s, %s/min, USD %s/day",
            self.judge.deployment.name,
            self.config.max_per_minute,
            self.config.max_usd_per_day,
        )

    async def aclose(self) -> None:
        """Stop: jobs still queued are dropped (counted as shutdown), running ones cancelled."""
        queue, self._queue = self._queue, None
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if queue is not None and queue.qsize():
            self._skip("shutdown", queue.qsize())
        log.info(
            "shadow comparisons: %d sampled, %d judged, skipped %s, missing %s",
            self.sampled,
            self.judged,
            self.skipped,
            self.missing,
        )

    # ---- workers --------------------------------------------------------------------

    async def _work(self, queue: asyncio.Queue[ShadowJob]) -> None:
        while True:
            job = await queue.get()
            self._running += 1
            try:
                await self.run(job)
            except Exception:  # a bug here must not stop the other comparisons
                log.exception("shadow comparison failed")
            finally:
                self._running -= 1

    async def run(self, job: ShadowJob) -> bool:
        """One comparison; True when its verdicts were written."""
        catalog = self.chains.catalog
        tier = other_tier(catalog, job.tier, job.decision.forbidden_tiers)
        if tier is None:
            return self._skip("no_other_tier")
        target = catalog.pick(tier, job.decision.estimated_tokens)
        decision = replace(
            job.decision, tier=tier, deployment=target.name, model=target.model, cascade=False
        )
        self.calls += 1
        self.metrics.calls.inc()
        try:  # the other tier's own deployments only: a neighbour would be a third tier
            served = await self.chains.complete(decision, job.request, "none")
        except LlmtriageError as exc:
            log.info("shadow call to %s failed: %s", tier, exc)
            return self._miss("shadow_failed")
        self._spend("shadow", served.cost or Decimal(0))
        try:
            judgement = await self.judge.compare(
                job.request, job.answer, answer_text(served.response)
            )
        except JudgeError as exc:
            self._spend("judge", exc.cost)
            log.info("shadow verdict missing: %s", exc)
            return self._miss("judge_failed")
        self._spend("judge", judgement.cost)
        first, second = judgement.orders
        note = f"judge {self.judge.deployment.name}: {first}/{second} (routed first/second)"
        verdicts = [
            Verdict(decision_id=job.decision_id, source=SHADOW + job.deployment,
                    score=judgement.routed, comment=f"routed answer; {note}"),
            Verdict(decision_id=job.decision_id, source=SHADOW + served.deployment.name,
                    score=1.0 - judgement.routed, comment=f"shadow answer; {note}"),
        ]  # fmt: skip
        return await self._write(job.decision_id, verdicts)

    async def _write(self, decision_id: str, verdicts: list[Verdict]) -> bool:
        sink = self._sink
        if sink is None:
            return self._miss("store_error")
        try:
            await sink.settled(decision_id)
            for verdict in verdicts:
                if not await sink.put_verdict(verdict):
                    return self._miss("no_decision")  # dropped by the log, or pruned
        except DecisionStoreError as exc:
            log.warning("shadow verdict not written: %s", exc)
            return self._miss("store_error")
        self.judged += 1
        self.metrics.verdicts.inc()
        return True

    def _spend(self, kind: str, usd: Decimal) -> None:
        self.budget.spend(usd)
        self.metrics.cost.labels(kind).inc(float(usd))

    def _skip(self, reason: str, n: int = 1) -> bool:
        self.skipped[reason] += n
        self.metrics.skipped.labels(reason).inc(n)
        return False

    def _miss(self, reason: str) -> bool:
        self.missing[reason] += 1
        self.metrics.missing.labels(reason).inc()
        return False


class StreamShadow:
    """A sampled stream's hand-off: its text gathered chunk by chunk, offered at its end."""

    def __init__(self, shadower: Shadower, decision_id: str, request: ChatRequest) -> None:
        self.shadower = shadower
        self.decision_id = decision_id
        self.request = request
        self.text = StreamText()

    def see(self, chunk: ChatChunk) -> None:
        self.text.see(chunk)

    def ended(self, decision: Decision, tier: str, deployment: str) -> bool:
        job = ShadowJob(self.decision_id, decision, tier, deployment, self.request, self.text.text)
        return self.shadower.offer(job)


__all__ = [
    "Budget",
    "ShadowJob",
    "Shadower",
    "StreamShadow",
    "StreamText",
    "VerdictSink",
    "other_tier",
]
