"""The console's view models: the aggregates' buckets (console/feed.py's fields) in, typed
pydantic responses of `/v1/stats/...` out. Pure functions, bar `BucketReader`, which
reads the buckets from the store.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmtriage.console.feed import (
    LATENCY_BINS,
    SCORE_BINS,
    deployment_prefix,
    latency_bin_edges,
    name_part,
    router_prefix,
)
from llmtriage.store.aggregates import Aggregates

Window = Literal["15m", "1h", "1d"]
WINDOWS: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400}
ALL = "all"
MAX_POINTS = 60  # points of a time series: a 1-day window at 60-s buckets is 24-min steps


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class WindowData:
    start: int  # epoch seconds: the first bucket's start
    end: int  # the last bucket's end
    bucket_s: int
    buckets: tuple[tuple[int, Mapping[str, float]], ...]  # (bucket start, console fields)
    sums: Mapping[str, float] | None = None  # the totals, when summed once on reading

    def totals(self) -> Mapping[str, float]:
        """Every field summed over the window (each endpoint asks: summed once per read)."""
        if self.sums is not None:
            return self.sums
        return summed(fields for _, fields in self.buckets)


def summed(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for fields in parts:
        for field, value in fields.items():
            out[field] = out.get(field, 0.0) + value
    return out


class BucketReader:
    """The console's fields per bucket over a window, from the shared store.

    Polling consoles must cost the request path nothing measurable, so: a bucket every
    replica has flushed (older than `settle_s`) is read once and kept; a window's read is
    shared for `ttl_s` by every endpoint and every open console; the loop is yielded
    between buckets.
    """

    def __init__(
        self,
        aggregates: Aggregates,
        *,
        settle_s: float,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aggregates = aggregates
        self.settle_s = settle_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._settled: dict[int, Mapping[str, float]] = {}
        self._recent: dict[int, tuple[float, WindowData]] = {}  # window_s -> (read at, data)
        self._lock = asyncio.Lock()

    async def read(self, window_s: int) -> WindowData:
        async with self._lock:  # concurrent polls wait for one read instead of repeating it
            now = self._clock()
            cached = self._recent.get(window_s)
            if cached is not None and now - cached[0] < self.ttl_s:
                return cached[1]
            data = await self._read(window_s, now)
            self._recent[window_s] = (now, data)
            return data

    async def _read(self, window_s: int, now: float) -> WindowData:
        agg = self.aggregates
        first, last = agg.window(window_s)
        await agg.flush()  # this replica's own counts are exact
        bucket_s = agg.bucket_s
        buckets: list[tuple[int, Mapping[str, float]]] = []
        for bucket in range(first, last + bucket_s, bucket_s):
            fields = self._settled.get(bucket)
            if fields is None:
                raw = await agg.buffer.hgetall(agg.keys.metrics(agg.name, bucket))
                fields = {k: v for k, v in raw.items() if k.startswith("c|")}
                if bucket + bucket_s + self.settle_s < now:
                    self._settled[bucket] = fields
            else:
                await asyncio.sleep(0)  # a long window never holds the loop in one go
            buckets.append((bucket, fields))
        horizon = now - agg.retention_s - bucket_s
        for old in [b for b in self._settled if b < horizon]:
            del self._settled[old]
        sums = summed(fields for _, fields in buckets)
        return WindowData(first, last + bucket_s, bucket_s, tuple(buckets), sums)


# ----------------------------------------------------------------------------- helpers


def routers_in(totals: Mapping[str, float]) -> list[str]:
    """Router names with decisions in the window, busiest first."""
    counts = {f[4:-2]: v for f, v in totals.items() if f.startswith("c|r|") and f.endswith("|n")}
    return sorted(counts, key=lambda r: (-counts[r], r))


def router_fields(totals: Mapping[str, float], router: str) -> dict[str, float]:
    """One router's fields with its prefix removed; `all`: every router's summed."""
    out: dict[str, float] = {}
    if router == ALL:
        for field, value in totals.items():
            if field.startswith("c|r|"):
                rest = field[4:].split("|", 1)
                if len(rest) == 2:
                    out[rest[1]] = out.get(rest[1], 0.0) + value
        return out
    prefix = router_prefix(router)
    return {f[len(prefix) :]: v for f, v in totals.items() if f.startswith(prefix)}


def sub(fields: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {f[len(prefix) :]: v for f, v in fields.items() if f.startswith(prefix)}


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _rate(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def ordered(known: Sequence[str], seen: Iterable[str]) -> list[str]:
    extra = sorted(set(seen) - set(known))
    return [*known, *extra]


# ----------------------------------------------------------------------------- traffic


class SeriesPoint(_View):
    t: int = Field(description="Epoch seconds: the step's start.")
    requests: float
    tiers: dict[str, float]


class Price(_View):
    tier: str
    deployment: str
    input_per_mtok: float
    output_per_mtok: float


class CostView(_View):
    spent_usd: float
    baseline_usd: float = Field(description="The same usage priced at the baseline deployment.")
    saved_usd: float
    saved_share: float | None
    completions: int
    tokens_in: int
    tokens_out: int
    baseline_deployment: str | None
    prices: list[Price]


class Novelty(_View):
    measured: int
    novel: int
    rate: float | None


class CascadeOutcome(_View):
    verdict: str  # accepted | escalated
    reason: str
    count: int


class CascadeView(_View):
    runs: int
    escalations: int
    escalation_rate: float | None
    outcomes: list[CascadeOutcome]


class StoreStatus(_View):
    backend: str  # memory | redis
    degraded: bool = Field(description="Redis unreachable: this replica's own counts only.")
    error: str | None = None


class TrafficView(_View):
    window: Window
    window_s: int
    bucket_s: int
    step_s: int
    from_: int = Field(alias="from")
    to: int
    router: str
    routers: list[str]
    tiers: list[str]
    requests: int
    tier_counts: dict[str, float]
    tier_shares: dict[str, float]
    series: list[SeriesPoint]
    novelty: Novelty
    cascade: CascadeView
    cost: CostView
    outcomes: dict[str, float]
    store: StoreStatus | None = None


@dataclass(frozen=True, slots=True)
class Pricing:
    """What the console needs of the routing config (None: scoring only)."""

    tiers: tuple[str, ...]
    prices: tuple[Price, ...]  # every deployment, tiers in order
    baseline: str | None  # the deployment savings are measured against

    def first_of(self, tier: str) -> Price | None:
        return next((p for p in self.prices if p.tier == tier), None)


def traffic_view(data: WindowData, *, window: Window, router: str, pricing: Pricing) -> TrafficView:
    totals = data.totals()
    routers = routers_in(totals)
    mine = router_fields(totals, router)
    tier_counts = sub(mine, "t|")
    tiers = ordered(pricing.tiers, tier_counts)
    requests = mine.get("n", 0.0)
    step = data.bucket_s * max(1, math.ceil(len(data.buckets) / MAX_POINTS))
    series: list[SeriesPoint] = []
    for bucket, fields in data.buckets:
        t = data.start + (bucket - data.start) // step * step
        if not series or series[-1].t != t:
            series.append(SeriesPoint(t=t, requests=0, tiers={k: 0 for k in tiers}))
        point, own = series[-1], router_fields(fields, router)
        point.requests += own.get("n", 0.0)
        for tier, n in sub(own, "t|").items():
            point.tiers[tier] = point.tiers.get(tier, 0.0) + n
    outcomes = sub(mine, "cas|")
    runs = sum(outcomes.values())
    escalations = sum(v for k, v in outcomes.items() if k.startswith("escalated|"))
    spent, base = mine.get("spent", 0.0), mine.get("base", 0.0)
    span: dict[str, Any] = {"from": data.start}  # `from` is a keyword: passed by alias
    return TrafficView(
        window=window,
        window_s=WINDOWS[window],
        bucket_s=data.bucket_s,
        step_s=step,
        **span,
        to=data.end,
        router=router,
        routers=routers,
        tiers=tiers,
        requests=int(requests),
        tier_counts={t: _num(tier_counts.get(t, 0.0)) for t in tiers},
        tier_shares={t: tier_counts.get(t, 0.0) / requests if requests else 0.0 for t in tiers},
        series=series,
        novelty=Novelty(
            measured=int(mine.get("nv", 0.0)),
            novel=int(mine.get("novel", 0.0)),
            rate=_rate(mine.get("novel", 0.0), mine.get("nv", 0.0)),
        ),
        cascade=CascadeView(
            runs=int(runs),
            escalations=int(escalations),
            escalation_rate=_rate(escalations, runs),
            outcomes=[
                CascadeOutcome(verdict=k.split("|", 1)[0], reason=k.split("|", 1)[1], count=int(v))
                for k, v in sorted(outcomes.items())
                if "|" in k
            ],
        ),
        cost=CostView(
            spent_usd=spent,
            baseline_usd=base,
            saved_usd=base - spent,
            saved_share=_rate(base - spent, base),
            completions=int(mine.get("done", 0.0)),
            tokens_in=int(mine.get("tin", 0.0)),
            tokens_out=int(mine.get("tout", 0.0)),
            baseline_deployment=pricing.baseline,
            prices=list(pricing.prices),
        ),
        outcomes={k: _num(v) for k, v in sorted(sub(mine, "out|").items())},
    )


# ----------------------------------------------------------------------------- scores


class Threshold(_View):
    tier: str = Field(description="The tier this is the minimum score of.")
    cutpoint: float


class QualityPoint(_View):
    threshold: float
    quality: float = Field(description="Share of the all-strong quality (1 = no loss).")


class QualityCurve(_View):
    source: Literal["artifact", "none"]
    note: str
    points: list[QualityPoint]


class TierCost(_View):
    tier: str
    deployment: str | None
    usd_per_request: float | None


class CostModel(_View):
    """Cost per request of each tier: the window's mean tokens per answered request
    priced at the tier's first deployment (what the what-if multiplies shares with)."""

    tokens_in_mean: float | None
    tokens_out_mean: float | None
    tiers: list[TierCost]
    baseline_tier: str | None


class ScoresView(_View):
    window: Window
    router: str
    routers: list[str]
    bins: int
    counts: list[float] = Field(description="Classifier-routed scores per 1/bins-wide bin.")
    scored: int
    requests: int
    tiers: list[str]
    thresholds: list[Threshold]
    classifier_tiers: dict[str, float]
    fixed_tiers: dict[str, float] = Field(
        description="Decisions a threshold does not move (rules, named models, defaults)."
    )
    cost_model: CostModel
    quality: QualityCurve


def scores_view(
    data: WindowData,
    *,
    window: Window,
    router: str,
    tiers: Sequence[str],
    thresholds: Sequence[Threshold],
    pricing: Pricing,
    quality: QualityCurve,
) -> ScoresView:
    totals = data.totals()
    mine = router_fields(totals, router)
    counts = [0.0] * SCORE_BINS
    for key, value in sub(mine, "s|").items():
        if key.isdigit() and int(key) < SCORE_BINS:
            counts[int(key)] += value
    all_tiers = sub(mine, "t|")
    classified = sub(mine, "ct|")
    names = ordered(tiers, [*all_tiers, *classified])
    done = mine.get("done", 0.0)
    tin = mine.get("tin", 0.0) / done if done else None
    tout = mine.get("tout", 0.0) / done if done else None
    tier_costs = []
    for tier in names:
        price = pricing.first_of(tier)
        unit = None
        if price is not None and tin is not None and tout is not None:
            unit = (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
        tier_costs.append(
            TierCost(
                tier=tier, deployment=price.deployment if price else None, usd_per_request=unit
            )
        )
    return ScoresView(
        window=window,
        router=router,
        routers=routers_in(totals),
        bins=SCORE_BINS,
        counts=counts,
        scored=int(sum(counts)),
        requests=int(mine.get("n", 0.0)),
        tiers=names,
        thresholds=list(thresholds),
        classifier_tiers={t: classified.get(t, 0.0) for t in names},
        fixed_tiers={t: max(0.0, all_tiers.get(t, 0.0) - classified.get(t, 0.0)) for t in names},
        cost_model=CostModel(
            tokens_in_mean=tin,
            tokens_out_mean=tout,
            tiers=tier_costs,
            baseline_tier=pricing.tiers[-1] if pricing.tiers else None,
        ),
        quality=quality,
    )


def artifact_quality(
    operating_points: Mapping[str, float], metrics: Mapping[str, Any]
) -> QualityCurve:
    """Quality against threshold from the artifact's evaluation: its `quality_Q`
    operating points (the cut-point keeping Q of the strong model's quality on its
    training pair), everything-strong (threshold 0: quality 1) and everything-weak
    (threshold 1: held-out q_weak / q_strong), joined linearly."""
    points = [QualityPoint(threshold=0.0, quality=1.0)]
    for name, cut in operating_points.items():
        if name.startswith("quality_"):
            try:
                points.append(QualityPoint(threshold=float(cut), quality=float(name[8:])))
            except ValueError:
                continue
    weak = strong = 0.0
    held_out = metrics.get("held_out", {})
    if isinstance(held_out, Mapping):
        for row in held_out.values():
            if isinstance(row, Mapping) and {"n", "q_weak", "q_strong"} <= row.keys():
                weak += float(row["n"]) * float(row["q_weak"])
                strong += float(row["n"]) * float(row["q_strong"])
    if strong > 0:
        points.append(QualityPoint(threshold=1.0, quality=min(1.0, weak / strong)))
    if len(points) < 3:
        return QualityCurve(
            source="none", note="the artifact has no quality operating points", points=[]
        )
    points.sort(key=lambda p: p.threshold)
    low = 1.0  # a higher cut-point never raises quality: keep the curve monotone
    for p in points:
        low = p.quality = min(low, p.quality)
    return QualityCurve(
        source="artifact",
        note=(
            "the classifier's own evaluation (its training pair of models, its operating "
            "points joined linearly), not your deployments: a guide, not a measurement"
        ),
        points=points,
    )


# ----------------------------------------------------------------------------- what-if


class WhatIfView(_View):
    router: str
    tier: str
    threshold: float
    thresholds: list[Threshold]
    tier_shares: dict[str, float]
    current_shares: dict[str, float]
    usd_per_1k: float | None
    current_usd_per_1k: float | None
    all_strong_usd_per_1k: float | None
    saved_share: float | None
    quality: float | None
    current_quality: float | None
    yaml: str


def band_shares(counts: Sequence[float], cuts: Sequence[float]) -> list[float]:
    """Share of the histogram in each band [cut_i, cut_i+1) (len(cuts) + 1 bands), the
    scores taken as spread evenly within each bin."""
    total = float(sum(counts))
    if total <= 0:
        return [0.0] * (len(cuts) + 1)
    above = [_mass_above(counts, c) / total for c in cuts]
    edges = [1.0, *above, 0.0]
    return [max(0.0, edges[i] - edges[i + 1]) for i in range(len(cuts) + 1)]


def _mass_above(counts: Sequence[float], cut: float) -> float:
    bins = len(counts)
    x = min(1.0, max(0.0, cut)) * bins
    whole = math.floor(x)
    if whole >= bins:
        return 0.0
    return float(sum(counts[whole + 1 :])) + counts[whole] * (1.0 - (x - whole))


def interpolate(points: Sequence[QualityPoint], x: float) -> float | None:
    if not points:
        return None
    if x <= points[0].threshold:
        return points[0].quality
    for a, b in itertools.pairwise(points):
        if x <= b.threshold:
            span = b.threshold - a.threshold
            return (
                b.quality
                if span <= 0
                else a.quality + (b.quality - a.quality) * (x - a.threshold) / span
            )
    return points[-1].quality


def whatif(scores: ScoresView, *, tier: str, threshold: float) -> WhatIfView:
    """Projected tier shares, cost per 1,000 requests and quality with `tier`'s minimum
    score moved to `threshold` (clamped between its neighbours'); nothing is changed."""
    names = [t.tier for t in scores.thresholds]
    if tier not in names:
        raise ValueError(f"tier {tier!r} has no threshold; one of: {', '.join(names)}")
    i = names.index(tier)
    cuts = [t.cutpoint for t in scores.thresholds]
    low = cuts[i - 1] if i > 0 else 0.0
    high = cuts[i + 1] if i + 1 < len(cuts) else 1.0
    moved = min(high, max(low, threshold))
    new_cuts = [*cuts[:i], moved, *cuts[i + 1 :]]
    band_tiers = [scores.tiers[0], *names] if scores.tiers else names

    def shares(cutpoints: Sequence[float]) -> dict[str, float]:
        classified = sum(scores.classifier_tiers.values())
        fixed = scores.fixed_tiers
        total = classified + sum(fixed.values())
        out = {t: fixed.get(t, 0.0) for t in scores.tiers}
        for name, share in zip(band_tiers, band_shares(scores.counts, cutpoints), strict=True):
            out[name] = out.get(name, 0.0) + share * classified
        return {t: (v / total if total else 0.0) for t, v in out.items()}

    unit = {c.tier: c.usd_per_request for c in scores.cost_model.tiers}

    def per_1k(share: Mapping[str, float]) -> float | None:
        if any(unit.get(t) is None for t, s in share.items() if s > 0) or not share:
            return None
        return 1000.0 * sum(s * (unit.get(t) or 0.0) for t, s in share.items())

    projected, current = shares(new_cuts), shares(cuts)
    top = scores.cost_model.baseline_tier
    strong_unit = unit.get(top) if top else None
    all_strong = None if strong_unit is None else 1000.0 * strong_unit
    cost = per_1k(projected)
    top_cut = len(cuts) == 1  # the curve is for two tiers: one cut-point
    quality = interpolate(scores.quality.points, moved) if top_cut else None
    now = interpolate(scores.quality.points, cuts[0]) if top_cut else None
    return WhatIfView(
        router=scores.router,
        tier=tier,
        threshold=moved,
        thresholds=[Threshold(tier=n, cutpoint=c) for n, c in zip(names, new_cuts, strict=True)],
        tier_shares=projected,
        current_shares=current,
        usd_per_1k=cost,
        current_usd_per_1k=per_1k(current),
        all_strong_usd_per_1k=all_strong,
        saved_share=None if cost is None or not all_strong else 1.0 - cost / all_strong,
        quality=quality,
        current_quality=now,
        yaml=threshold_yaml(names, new_cuts),
    )


def threshold_yaml(tiers: Sequence[str], cuts: Sequence[float]) -> str:
    """The routing-config fragment for these cut-points."""
    inner = ", ".join(f"{t}: {c:.4f}" for t, c in zip(tiers, cuts, strict=True))
    return f"classifier:\n  thresholds: {{{inner}}}\n"


# ----------------------------------------------------------------------------- deployments


class LatencyView(_View):
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None


class DeploymentView(_View):
    name: str
    tier: str | None
    calls: int
    ok: int
    failures: dict[str, float]
    retries: int
    fallbacks: int = Field(description="Requests it failed on that another deployment answered.")
    skipped: dict[str, float]
    breaker: str  # closed | open | half_open | unknown
    breaker_until: float | None
    latency: LatencyView


class DeploymentsView(_View):
    window: Window
    deployments: list[DeploymentView]


def percentile(counts: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of latency-bin counts, in ms, linear within the bin."""
    total = float(sum(counts))
    if total <= 0:
        return None
    need, running = q * total, 0.0
    for i, c in enumerate(counts):
        if c > 0 and running + c >= need:
            low, high = latency_bin_edges(i)
            return low + (high - low) * (need - running) / c
        running += c
    return latency_bin_edges(len(counts) - 1)[1]


def deployments_view(
    data: WindowData,
    *,
    window: Window,
    known: Sequence[tuple[str, str]],  # (deployment, tier) in config order
    breakers: Mapping[str, tuple[str, float | None]],
) -> DeploymentsView:
    totals = data.totals()
    seen = {f.split("|", 3)[2] for f in totals if f.startswith("c|d|")}
    names = [d for d, _ in known] + sorted(seen - {name_part(d) for d, _ in known})
    tier_of = dict(known)
    out = []
    for name in names:
        mine = sub(totals, deployment_prefix(name))
        lat = [0.0] * LATENCY_BINS
        for key, value in sub(mine, "lat|").items():
            if key.isdigit() and int(key) < LATENCY_BINS:
                lat[int(key)] += value
        state, until = breakers.get(name, ("unknown", None))
        out.append(
            DeploymentView(
                name=name,
                tier=tier_of.get(name),
                calls=int(mine.get("calls", 0.0)),
                ok=int(mine.get("ok", 0.0)),
                failures={k: _num(v) for k, v in sorted(sub(mine, "fail|").items())},
                retries=int(mine.get("retry", 0.0)),
                fallbacks=int(mine.get("fb", 0.0)),
                skipped={k: _num(v) for k, v in sorted(sub(mine, "skip|").items())},
                breaker=state,
                breaker_until=until,
                latency=LatencyView(
                    p50_ms=percentile(lat, 0.5),
                    p90_ms=percentile(lat, 0.9),
                    p99_ms=percentile(lat, 0.99),
                ),
            )
        )
    return DeploymentsView(window=window, deployments=out)


# ----------------------------------------------------------------------------- decisions


class DecisionRow(_View):
    id: str
    ts: float
    router: str
    reason: str
    tier: str
    rule: str | None
    score: float | None
    deployment: str
    outcome: str
    latency_ms: float | None
    cost_usd: float | None
    prompt: str | None = None


class DecisionsView(_View):
    source: Literal["decision_log", "recent"] = Field(
        description="decision_log: the configured log (shared when it is PostgreSQL); "
        "recent: this replica's last answered requests, kept in memory."
    )
    prompts_logged: bool
    decisions: list[DecisionRow]
