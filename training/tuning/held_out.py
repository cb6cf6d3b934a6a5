"""Held-out evaluation: which rows tune and which report, routing the held-out rows by
cut-points tuned without them, and the report with bootstrap CIs (protocol: tune.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmtriage.errors import InputError
from llmtriage_train.data.splits import stable_split
from llmtriage_train.evaluation.metrics import BootstrapCI, bootstrap_ci
from llmtriage_train.model.export import data_checksum
from llmtriage_train.tuning.search import EPS, F64, I64, Target, Tuned, choose_cutpoints

MIN_ROWS = 20
TUNE_SALT = "llmtriage-tune"  # cross-fitting folds; independent of the train/test salt
FOLDS = 5


# ----------------------------------------------------------------- routed metrics


def assign(scores: F64, cutpoints: Sequence[float]) -> I64:
    """Tier index per score: the number of cut-points <= score (bisect_right, as served)."""
    return np.searchsorted(np.asarray(cutpoints, dtype=np.float64), scores, side="right")


def routed_quality(tiers: I64, quality: F64) -> float:
    return float(quality[np.arange(tiers.size), tiers].mean())


def quality_share(tiers: I64, quality: F64) -> float:
    """Routed quality as a share of sending everything to the top tier."""
    top = float(quality[:, -1].mean())
    if top <= 0:
        raise ValueError("the top tier has zero quality on these rows")
    return routed_quality(tiers, quality) / top


def pgr(tiers: I64, quality: F64) -> float:
    """Performance gap recovered between the cheapest and the top tier."""
    low, top = float(quality[:, 0].mean()), float(quality[:, -1].mean())
    if top == low:
        raise ValueError("no quality gap between the cheapest and the top tier")
    return (routed_quality(tiers, quality) - low) / (top - low)


# ------------------------------------------------------------------ held-out report


@dataclass(frozen=True)
class Report:
    """Routing with given cut-points on held-out rows, each with a bootstrap 95% CI."""

    rows: int
    quality: BootstrapCI
    quality_share: BootstrapCI
    pgr: BootstrapCI
    cost_per_1k: BootstrapCI | None
    tier_shares: dict[str, BootstrapCI] = field(default_factory=dict)
    # the target's metric when the tuning rows are resampled too (see retuned_ci)
    retuned: BootstrapCI | None = None

    def for_target(self, target: Target) -> BootstrapCI:
        if target.kind == "quality":
            return self.quality_share
        if target.kind == "strong-share":
            return list(self.tier_shares.values())[-1]
        if self.cost_per_1k is None:
            raise ValueError("no prices, so no cost")
        return self.cost_per_1k

    def hits(self, target: Target, *, retuned: bool = False) -> bool:
        """Whether the target lies in the held-out CI (fixed cut-points), or with
        `retuned` in the CI that also counts the cut-points' own sampling error."""
        ci = self.retuned if retuned and self.retuned is not None else self.for_target(target)
        return ci.low - EPS <= target.value <= ci.high + EPS

    def to_dict(self) -> dict[str, Any]:
        def ci(c: BootstrapCI | None) -> list[float] | None:
            return None if c is None else [c.estimate, c.low, c.high]

        return {
            "rows": self.rows,
            "quality": ci(self.quality),
            "quality_share": ci(self.quality_share),
            "pgr": ci(self.pgr),
            "cost_per_1k": ci(self.cost_per_1k),
            "tier_shares": {k: ci(v) for k, v in self.tier_shares.items()},
            "target_retuned": ci(self.retuned),
        }


def held_out_report(
    scores: F64,
    quality: F64,
    cutpoints: Sequence[float],
    tiers: Sequence[str],
    prices: F64 | None = None,
    *,
    n_boot: int = 1000,
) -> Report:
    """Report for routing these rows with fixed cut-points."""
    return routed_report(assign(scores, cutpoints), quality, tiers, prices, n_boot=n_boot)


def routed_report(
    routed: I64,
    quality: F64,
    tiers: Sequence[str],
    prices: F64 | None = None,
    *,
    n_boot: int = 1000,
) -> Report:
    """Report for rows already given a tier each, resampling rows for the CIs."""

    def boot(fn: Callable[[I64, F64], float]) -> BootstrapCI:
        return bootstrap_ci(fn, routed, quality, n_boot=n_boot, seed=0)

    def share_of(j: int) -> Callable[[I64, F64], float]:
        return lambda t, _q: float((t == j).mean())

    cost = None
    if prices is not None:
        price = prices
        cost = boot(lambda t, _q: float(price[t].mean()))
    return Report(
        rows=int(routed.size),
        quality=boot(routed_quality),
        quality_share=boot(quality_share),
        pgr=boot(pgr),
        cost_per_1k=cost,
        tier_shares={name: boot(share_of(j)) for j, name in enumerate(tiers)},
    )


def target_metric(target: Target, prices: F64 | None = None) -> Callable[[I64, F64], float]:
    """The held-out quantity a target constrains, as fn(tier per row, quality)."""
    if target.kind == "quality":
        return quality_share
    if target.kind == "strong-share":
        return lambda t, q: float((t == q.shape[1] - 1).mean())
    if prices is None:
        raise ValueError("a cost target needs prices")
    price = prices
    return lambda t, _q: float(price[t].mean())


def format_report(report: Report, target: Target) -> str:
    def line(label: str, c: BootstrapCI, fmt: str = ".3f") -> str:
        return f"  {label:<24}{c.estimate:{fmt}}  [{c.low:{fmt}}, {c.high:{fmt}}]"

    out = [
        f"held-out ({report.rows} rows), estimate [95% bootstrap CI over rows]:",
        line("quality", report.quality),
        line("quality / top tier", report.quality_share),
        line("PGR", report.pgr),
    ]
    if report.cost_per_1k is not None:
        out.append(line("cost USD / 1k requests", report.cost_per_1k))
    out += [line(f"share {name}", c) for name, c in report.tier_shares.items()]
    if report.retuned is not None:
        r = report.retuned
        out.append(
            f"  {'re-tuned CI of target':<24}{r.estimate:.3f}  [{r.low:.3f}, {r.high:.3f}]"
            "  (resamples the tuning rows too: the cut-points' own error)"
        )
    verdict = "within" if report.hits(target, retuned=True) else "OUTSIDE"
    out.append(f"target {target}: {verdict} the held-out 95% CI")
    return "\n".join(out)


# --------------------------------------------------------------- which rows tune


@dataclass(frozen=True)
class RowPlan:
    """Which rows tune and which report. `fold[i]` belongs to `rows[i]`: -1 rows only ever
    tune; a row in fold k >= 0 is held out from, and routed by, the cut-points tuned on the
    rows outside fold k. The written cut-points are tuned on the -1 rows, or on all rows
    when every row is in some fold (cross-fitting)."""

    rows: I64
    fold: I64
    how: str

    @property
    def final(self) -> I64:
        only = self.rows[self.fold < 0]
        return only if only.size else self.rows

    @property
    def held_out(self) -> I64:
        return self.rows[self.fold >= 0]


def plan_rows(
    prompts: Sequence[str],
    split: Sequence[str | None],
    *,
    quality: F64 | None = None,
    tune_on: str = "auto",
    seen: Callable[[I64], bool] = lambda _rows: False,
) -> RowPlan:
    """Tuning and held-out rows.

    The split column decides (rows without one, or a file without it, get the fixed hash
    split `llmtriage train/evaluate` use). Tune on "train", report on "test" — unless the
    artifact trained on those train rows (`seen`, by data checksum): its scores there are
    in-sample and far too confident, so `auto` then cross-fits on the test rows instead.
    """
    fallback = stable_split(prompts)
    sides = np.array([s or f for s, f in zip(split, fallback, strict=True)])
    train, test = np.flatnonzero(sides == "train"), np.flatnonzero(sides == "test")
    if tune_on == "auto":
        tune_on = "cross-fit" if train.size and seen(train) else "train"
    if tune_on == "train":
        if train.size < MIN_ROWS or test.size < MIN_ROWS:
            raise InputError(
                f"too few rows: {train.size} train and {test.size} test rows; "
                f"each split needs at least {MIN_ROWS}"
            )
        rows = np.concatenate([train, test])
        fold = np.repeat(np.array([-1, 0]), [train.size, test.size])
        return RowPlan(rows, fold, "tuned on the train split, reported on the test split")
    if tune_on != "cross-fit":
        raise InputError(f"--tune-on must be auto, train or cross-fit, got {tune_on!r}")
    if test.size < FOLDS * MIN_ROWS // 2:
        raise InputError(
            f"too few rows: {test.size} test rows to cross-fit on; "
            f"need at least {FOLDS * MIN_ROWS // 2}"
        )
    q = quality[test] if quality is not None else np.zeros((test.size, 1))
    fold = stratified_folds([prompts[int(i)] for i in test], q, FOLDS)
    return RowPlan(
        test,
        fold,
        f"{FOLDS}-fold cross-fitted on the test split (the artifact "
        "trained on the train split); cut-points from all test rows",
    )


def stratified_folds(prompts: Sequence[str], quality: F64, k: int) -> I64:
    """Fold 0..k-1 per row: stable (hash order, no seed) and stratified.

    Rows are grouped by the (cheapest, top) tier outcome, rounded to quarters, and within
    each group take turns in hash order, so every fold gets the same base rates: two
    random halves of ~1,400 MMLU rows differed by 5 points in the weak model's accuracy,
    which moves a quality target more than the router does. Repeated prompts stay together.
    """
    first: dict[str, int] = {}
    for i, p in enumerate(prompts):
        first.setdefault(p, i)
    ends = quality[:, [0, -1]] if quality.shape[1] > 1 else quality
    groups: dict[tuple[float, ...], list[tuple[bytes, str]]] = {}
    for p, i in first.items():
        key = tuple(np.round(ends[i] * 4).tolist())
        groups.setdefault(key, []).append((hashlib.sha256((TUNE_SALT + p).encode()).digest(), p))
    turn = {p: j % k for group in groups.values() for j, (_, p) in enumerate(sorted(group))}
    return np.array([turn[p] for p in prompts], dtype=np.int64)


def trained_on(
    training_checksums: set[str], prompts: Sequence[str], quality: F64
) -> Callable[[I64], bool]:
    """Whether rows are exactly an artifact's training rows: the manifest keeps a checksum
    of each training set over (prompt, weak, strong), here the cheapest and top tier."""
    def seen(rows: I64) -> bool:
        picked = [prompts[i] for i in rows]
        return data_checksum(picked, quality[rows, 0], quality[rows, -1]) in training_checksums

    return seen


# ------------------------------------------------------------------ plan -> report


def route_held_out(scores: F64, quality: F64, fold: I64, target: Target, prices: F64 | None) -> I64:
    """Tier per held-out row (fold >= 0, in order), from cut-points tuned without its fold."""
    held = np.flatnonzero(fold >= 0)
    routed = np.zeros(held.size, dtype=np.int64)
    for k in np.unique(fold[held]):
        out = fold != k
        try:
            cuts = choose_cutpoints(scores[out], quality[out], target, prices).cutpoints
        except InputError as exc:
            raise InputError(f"{exc} (held-out fold {k}'s tuning part)") from exc
        routed[fold[held] == k] = assign(scores[fold == k], cuts)
    return routed


def retuned_ci(
    scores: F64,
    quality: F64,
    fold: I64,
    target: Target,
    prices: F64 | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile CI of the target's held-out metric, re-tuning on every resample.

    For a train -> test plan: the train rows and the test rows are each resampled and the
    cut-points chosen again before routing the test rows. The fixed-routing CI counts only
    the test rows' noise; the cut-points are estimates too, and their error is as large
    when the train part is no bigger than the test part. (Cross-fitting needs no such
    correction in the same way and gets none: re-tuning per fold on resamples mostly
    measures how stable the procedure is on this very data.) Resamples where the target
    is out of reach are dropped.
    """
    rng = np.random.default_rng(seed)
    metric = target_metric(target, prices)
    held = fold >= 0
    estimate = metric(route_held_out(scores, quality, fold, target, prices), quality[held])
    groups = [np.flatnonzero(fold == k) for k in np.unique(fold)]
    stats = []
    for _ in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        try:
            routed = route_held_out(scores[idx], quality[idx], fold[idx], target, prices)
        except InputError:
            continue
        stats.append(metric(routed, quality[idx][fold[idx] >= 0]))
    if not stats:
        return BootstrapCI(estimate, float("nan"), float("nan"))
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(estimate, float(low), float(high))


@dataclass(frozen=True)
class TuneResult:
    plan: RowPlan
    tuned: Tuned  # the cut-points to deploy, from plan.final
    report: Report  # the held-out rows, each routed by cut-points tuned without it
    scores: F64  # per plan.rows


def tune_rows(
    score: Callable[[list[str]], F64],
    prompts: Sequence[str],
    quality: F64,
    split: Sequence[str | None],
    target: Target,
    tiers: Sequence[str],
    prices: F64 | None = None,
    *,
    tune_on: str = "auto",
    seen: Callable[[I64], bool] = lambda _rows: False,
) -> TuneResult:
    """Plan the rows, score them, choose cut-points and report on held-out rows."""
    plan = plan_rows(prompts, split, quality=quality, tune_on=tune_on, seen=seen)
    scores = np.asarray(score([prompts[i] for i in plan.rows]), dtype=np.float64)
    q = quality[plan.rows]
    final = plan.fold < 0 if (plan.fold < 0).any() else np.ones(plan.rows.size, dtype=bool)
    tuned = choose_cutpoints(scores[final], q[final], target, prices)
    routed = route_held_out(scores, q, plan.fold, target, prices)
    report = routed_report(routed, q[plan.fold >= 0], tiers, prices)
    if (plan.fold < 0).any():
        # the grid search for more tiers is slower per resample, so fewer resamples there
        n_boot = 1000 if quality.shape[1] == 2 else 100
        retuned = retuned_ci(scores, q, plan.fold, target, prices, n_boot=n_boot)
        report = dataclasses.replace(report, retuned=retuned)
    return TuneResult(plan, tuned, report, scores)
