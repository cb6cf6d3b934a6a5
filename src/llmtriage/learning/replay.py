"""`llmtriage replay`: what a candidate threshold set or artifact would have scored and
cost on the logged traffic, before it is deployed (off-policy evaluation).

Each logged request i routed to tier a_i with propensity p_i (exploration.py) and got a
quality r_i (its feedback verdict, when given) at cost c_i. The candidate policy π picks
a tier for the same request: from the logged score and the candidate thresholds, or by
scoring the logged prompt with a candidate artifact (needs log_prompts). A row counts
where π agrees with what was routed, weighed by w_i = 1 / p_i:

    IPW    V = Σ 1[π(x_i) = a_i] w_i r_i / n
    SNIPS  V = Σ 1[π(x_i) = a_i] w_i r_i / Σ 1[π(x_i) = a_i] w_i   (self-normalised)

Confidence intervals: percentile bootstrap over requests (seeded). Rows the classifier
did not route (rules, named models, novel prompts) are routed the same by any
candidate, with propensity 1. Without exploration (every p_i = 1) a candidate is judged
only where it agrees with the deployed policy, so its estimate says nothing of the tiers
it would newly choose; `coverage` (the share of rows it agrees on) shows how much is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage.errors import InputError
from llmtriage.learning.record import DecisionRecord, LoggedDecision

Policy = Callable[[DecisionRecord], str]
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Replay:
    policy: str
    rows: int  # logged requests considered
    matched: int  # of them, routed as the candidate would
    coverage: float
    effective_n: float  # (Σw)² / Σw² over the matched rows with a reward
    quality_rows: int  # rows with a verdict
    quality_snips: Estimate
    quality_ipw: Estimate
    cost_per_request_snips: Estimate  # USD
    tier_shares: dict[str, float]  # the candidate's choices over all rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "rows": self.rows,
            "matched": self.matched,
            "coverage": self.coverage,
            "effective_n": self.effective_n,
            "quality_rows": self.quality_rows,
            "quality_snips": self.quality_snips.to_dict(),
            "quality_ipw": self.quality_ipw.to_dict(),
            "cost_per_request_snips": self.cost_per_request_snips.to_dict(),
            "tier_shares": self.tier_shares,
        }


def threshold_policy(tiers: Sequence[str], cutpoints: dict[str, float]) -> Policy:
    """The tier a logged classifier score falls in under `cutpoints` (tier: minimum score,
    every tier but the cheapest), clamped like the router (routing/catalog.py) when a
    rule forbade it."""
    missing = [t for t in tiers[1:] if t not in cutpoints]
    if missing or set(cutpoints) - set(tiers[1:]):
        raise InputError(
            f"thresholds must give a minimum score for each of {', '.join(tiers[1:])}"
        )
    order = list(tiers)

    def choose(record: DecisionRecord) -> str:
        if record.reason != "classifier" or record.score is None:
            return record.routed_tier
        tier = order[0]
        for name in order[1:]:
            if record.score >= cutpoints[name]:
                tier = name
        return clamp(order, tier, frozenset(record.forbidden_tiers))

    return choose


def scorer_policy(
    tiers: Sequence[str], score: Callable[[str], float], cutpoints: dict[str, float]
) -> Policy:
    """A candidate artifact: the logged prompt rescored, then cut by `cutpoints`."""
    by_threshold = threshold_policy(tiers, cutpoints)

    def choose(record: DecisionRecord) -> str:
        if record.reason != "classifier":
            return record.routed_tier
        if record.prompt is None:
            raise InputError(
                f"decision {record.decision_id} was logged without its prompt: replaying an "
                "artifact needs decision_log.log_prompts: true (a threshold needs no prompt)"
            )
        return by_threshold(replace(record, score=score(record.prompt)))

    return choose


def clamp(tiers: Sequence[str], tier: str, forbidden: frozenset[str]) -> str:
    if tier not in forbidden:
        return tier
    index = list(tiers).index(tier)
    below = [t for t in tiers[:index] if t not in forbidden]
    above = [t for t in tiers[index + 1 :] if t not in forbidden]
    return below[-1] if below else (above[0] if above else tier)


def logged_policy(record: DecisionRecord) -> str:
    """The deployed router, without its exploration."""
    return record.policy_tier


def replay(
    logged: Sequence[LoggedDecision],
    policy: Policy,
    *,
    name: str,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Replay:
    if not logged:
        raise InputError("the decision log holds no decisions in that window")
    records = [e.record for e in logged]
    chosen = [policy(r) for r in records]
    match = np.array([c == r.routed_tier for c, r in zip(chosen, records, strict=True)], float)
    weight = np.array([1.0 / r.propensity for r in records]) * match
    verdicts = [e.verdict() for e in logged]
    has_reward = np.array([v is not None for v in verdicts], float)
    reward = np.array([v.score if v is not None else 0.0 for v in verdicts])
    has_cost = np.array([r.cost_usd is not None for r in records], float)
    cost = np.array([r.cost_usd or 0.0 for r in records])

    rng = np.random.default_rng(seed)
    n = len(records)
    ones = np.ones(n)

    def snips(mult: Array, present: Array, values: Array) -> Array:
        w = weight * mult * present
        den = w.sum(axis=-1)
        return np.where(den > 0, (w * values).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)

    def ipw(mult: Array, present: Array, values: Array) -> Array:
        rows = (mult * present).sum(axis=-1)
        total = (weight * mult * present * values).sum(axis=-1)
        return np.where(rows > 0, total / np.where(rows > 0, rows, 1.0), np.nan)

    def estimate(
        fn: Callable[[Array, Array, Array], Array], present: Array, values: Array
    ) -> Estimate:
        point = float(fn(ones, present, values))
        if np.isnan(point):
            return Estimate(None, None, None)
        draws: list[Array] = []
        for start in range(0, resamples, 100):  # blocks of resamples: bounded memory
            size = min(100, resamples - start)
            mult = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
            draws.append(fn(mult, present, values))
        every = np.concatenate(draws) if draws else np.array([])
        finite = every[~np.isnan(every)]
        if finite.size == 0:
            return Estimate(point, None, None)
        tail = (1.0 - level) / 2.0 * 100.0
        low, high = np.percentile(finite, [tail, 100.0 - tail])
        return Estimate(point, float(low), float(high))

    rewarded = weight * has_reward
    effective = float(rewarded.sum() ** 2 / (rewarded**2).sum()) if rewarded.any() else 0.0
    counts: dict[str, int] = {}
    for tier in chosen:
        counts[tier] = counts.get(tier, 0) + 1
    shares = {tier: c / n for tier, c in counts.items()}
    return Replay(
        policy=name,
        rows=n,
        matched=int(match.sum()),
        coverage=float(match.mean()),
        effective_n=round(effective, 2),
        quality_rows=int(has_reward.sum()),
        quality_snips=estimate(snips, has_reward, reward),
        quality_ipw=estimate(ipw, has_reward, reward),
        cost_per_request_snips=estimate(snips, has_cost, cost),
        tier_shares=dict(sorted(shares.items())),
    )
