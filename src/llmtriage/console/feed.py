"""What the console counts per request, into the shared aggregates (store/aggregates.py).

Fields live beside /v1/stats' own, in the same time buckets, named with `|` so that
router and deployment names (which may hold dots) need no escaping:

    c|r|<router>|n, c|r|<router>|t|<tier>       decisions of a router, by tier
    c|r|<router>|ct|<tier>, c|r|<router>|s|<i>  classifier-routed: by tier, by score bin
    c|r|<router>|nv, c|r|<router>|novel         novelty measured, found novel
    c|r|<router>|done[|<tier>], spent, base,    answered requests: cost, all-strong
      tin, tout, out|<outcome>                  baseline, tokens, outcome
    c|r|<router>|cas|<accepted|escalated>|<why> cascade verdicts
    c|d|<dep>|calls, ok, fail|<kind>,           fallback chains' attempts per deployment
      skip|<kind>, retry, fb, lat|<i>           (fb: it failed and another answered)

A router is the model name the client asked for (`auto`, ...); /v1/score counts under
`SCORE_ROUTER`. Every add is a dict update in the write-behind buffer: no I/O here.
The latest decisions also go to a small ring (per replica), read when no decision log
is configured.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtriage.execution.served import CascadeInfo
from llmtriage.fallback.attempts import SKIPS, Attempt, fallbacks
from llmtriage.providers.types import Usage
from llmtriage.routing.decision import Decision, Reason
from llmtriage.store.aggregates import Aggregates

SCORE_ROUTER = "/v1/score"
SCORE_BINS = 100  # 0.01 wide: fine enough to place a cut-point by eye, few fields
# Latency bins: bin i holds [2^(i/2), 2^((i+1)/2)) ms, 1 ms .. ~3 min (bin 0 also < 1 ms).
LATENCY_BINS = 36
RECENT = 200


def name_part(name: str) -> str:
    """A router, tier or deployment name as one field part (no separator inside)."""
    return name.replace("|", "/")


def router_prefix(router: str) -> str:
    return f"c|r|{name_part(router)}|"


def deployment_prefix(deployment: str) -> str:
    return f"c|d|{name_part(deployment)}|"


def score_bin(score: float) -> int:
    return min(SCORE_BINS - 1, max(0, math.floor(score * SCORE_BINS)))


def latency_bin(seconds: float) -> int:
    ms = seconds * 1000.0
    if not ms > 1.0:  # also NaN
        return 0
    return min(LATENCY_BINS - 1, math.floor(2.0 * math.log2(ms)))


def latency_bin_edges(i: int) -> tuple[float, float]:
    """(low, high) of latency bin i in milliseconds."""
    return (0.0 if i == 0 else 2.0 ** (i / 2.0)), 2.0 ** ((i + 1) / 2.0)


@dataclass(frozen=True, slots=True)
class RecentDecision:
    """One answered request, as the console's table shows it."""

    id: str
    ts: float
    router: str
    reason: str
    tier: str
    rule: str | None
    score: float | None
    deployment: str
    outcome: str
    latency_ms: float
    cost_usd: float | None


class ConsoleFeed:
    """Counts for the console; one per `Telemetry` (server/telemetry.py calls it)."""

    def __init__(self, aggregates: Aggregates, *, recent: int = RECENT) -> None:
        self._add = aggregates.add
        self.recent: deque[RecentDecision] = deque(maxlen=recent)
        self._serial = 0  # ids for rows without a decision-log id (per replica)

    def scored(self, score: float, tier: str) -> None:
        """A text scored by /v1/score."""
        add, r = self._add, router_prefix(SCORE_ROUTER)
        add(r + "n")
        add(r + "t|" + name_part(tier))
        if math.isfinite(score):
            add(r + "ct|" + name_part(tier))
            add(r + "s|" + str(score_bin(score)))

    def decided(self, decision: Decision) -> None:
        """A routing decision (answered or not: /v1/route counts too)."""
        add, r = self._add, router_prefix(decision.requested_model)
        tier = name_part(decision.tier)
        add(r + "n")
        add(r + "t|" + tier)
        if decision.novelty is not None:
            add(r + "nv")
            if decision.novel:
                add(r + "novel")
        score = decision.score
        # Only classifier-routed requests move with a threshold: the what-if's histogram.
        if decision.reason is Reason.CLASSIFIER and score is not None and math.isfinite(score):
            add(r + "ct|" + tier)
            add(r + "s|" + str(score_bin(score)))

    def finished(
        self,
        decision: Decision,
        *,
        tier: str,
        deployment: str,
        attempts: Sequence[Attempt],
        cascade: CascadeInfo | None,
        usage: Usage | None,
        cost: Decimal | None,
        baseline: Decimal | None,
        latency_s: float,
        outcome: str,
        decision_id: str | None = None,
    ) -> None:
        """A proxied request ended (a whole answer, or a stream's end): what it cost,
        how its chain went, and a row for the latest-decisions table."""
        add, r = self._add, router_prefix(decision.requested_model)
        add(r + "out|" + name_part(outcome))
        if outcome == "ok":
            add(r + "done")
            add(r + "done|" + name_part(tier))
        if cost is not None:
            add(r + "spent", float(cost))
            if baseline is not None:
                add(r + "base", float(baseline))
        if usage is not None:
            add(r + "tin", usage.prompt_tokens)
            add(r + "tout", usage.completion_tokens)
        if cascade is not None:
            add(f"{r}cas|{cascade.header}|{name_part(cascade.reason)}")
        self._chain(attempts)
        if decision_id is None:
            self._serial += 1
            decision_id = f"r{self._serial}"
        self.recent.append(
            RecentDecision(
                id=decision_id,
                ts=time.time(),
                router=decision.requested_model,
                reason=decision.reason.value,
                tier=tier,
                rule=decision.rule,
                score=decision.score,
                deployment=deployment,
                outcome=outcome,
                latency_ms=round(latency_s * 1000.0, 3),
                cost_usd=None if cost is None else float(cost),
            )
        )

    def _chain(self, attempts: Sequence[Attempt]) -> None:
        add = self._add
        called: Counter[str] = Counter()
        for attempt in attempts:
            d = deployment_prefix(attempt.deployment)
            if attempt.kind in SKIPS:
                add(d + "skip|" + attempt.kind)
                continue
            called[attempt.deployment] += 1
            add(d + "calls")
            add(d + ("ok" if attempt.ok else "fail|" + name_part(attempt.kind)))
            add(d + "lat|" + str(latency_bin(attempt.latency_s)))
        for name, times in called.items():
            if times > 1:
                add(deployment_prefix(name) + "retry", times - 1)
        for name, _ in fallbacks(attempts):
            add(deployment_prefix(name) + "fb")
