"""Cut-point search: the cut-points that meet a target on the tuning rows.

On the tuning rows sorted by score, every place between two distinct scores is a
candidate cut (the cut-point is the midpoint, so it generalises better than a score that
happens to be in the sample). Two tiers: all n + 1 places, exactly. More tiers: every
ordered combination of 41 score quantiles, then coordinate refinement at full resolution
(two passes over each cut with the others fixed). Prefix sums make each candidate O(tiers).
Without prices, tier i costs i units (so "lowest cost" = fewest calls up the ladder).
Targets and the held-out protocol: training/tuning/tune.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from llmtriage.errors import InputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

GRID_QUANTILES = 41
EPS = 1e-12  # slack so a target met exactly on paper is not lost to rounding


# ------------------------------------------------------------------------- targets


def _check_quality(v: float) -> str | None:
    return None if v > 0 else "must be above 0 (a share of the top tier's quality, e.g. 0.95)"


def _check_cost(v: float) -> str | None:
    return None if v >= 0 else "must be a non-negative USD amount per 1,000 requests"


def _check_share(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be a share of calls in [0, 1], e.g. 0.3"


# target kind -> validator of its value (None = fine, else what is wrong)
TARGETS: dict[str, Callable[[float], str | None]] = {
    "quality": _check_quality,
    "cost": _check_cost,
    "strong-share": _check_share,
}


@dataclass(frozen=True)
class Target:
    kind: str
    value: float

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


def parse_target(text: str) -> Target:
    kind, sep, raw = text.partition("=")
    kind = kind.strip().lower()
    if not sep or kind not in TARGETS:
        raise InputError(
            f"--target must be one of {', '.join(k + '=…' for k in TARGETS)}; got {text!r}"
        )
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"--target {kind}= needs a number, got {raw!r}") from None
    problem = TARGETS[kind](value) if np.isfinite(value) else "must be a finite number"
    if problem:
        raise InputError(f"--target {text}: {kind} {problem}")
    return Target(kind, value)


# --------------------------------------------------------------------- the search


class _Sorted:
    """Tuning rows sorted by score, with per-tier prefix sums of quality."""

    def __init__(self, scores: F64, quality: F64) -> None:
        order = np.argsort(scores, kind="stable")
        self.scores = scores[order]
        self.n, self.tiers = quality.shape
        zero = np.zeros((1, self.tiers))
        self.prefix = np.vstack([zero, np.cumsum(quality[order], axis=0)])
        gaps = np.flatnonzero(self.scores[1:] > self.scores[:-1]) + 1
        self.valid = np.concatenate(([0], gaps, [self.n])).astype(np.int64)

    def evaluate(self, positions: I64) -> tuple[F64, F64]:
        """(mean quality, tier shares) for each row of cut positions (C, tiers - 1)."""
        c = positions.shape[0]
        bounds = np.hstack([np.zeros((c, 1), np.int64), positions, np.full((c, 1), self.n)])
        quality = np.zeros(c)
        for t in range(self.tiers):
            quality += self.prefix[bounds[:, t + 1], t] - self.prefix[bounds[:, t], t]
        return quality / self.n, np.diff(bounds, axis=1) / self.n

    def cut(self, k: int) -> float:
        if k <= 0:
            return 0.0
        if k >= self.n:
            return 1.0  # nobody reaches it: scores lie in [0, 1] and 1.0 never occurs in practice
        return float((self.scores[k - 1] + self.scores[k]) / 2.0)

    def nearest_valid(self, k: float) -> int:
        return int(self.valid[np.argmin(np.abs(self.valid - k))])


Picker = Callable[[F64, F64], "int | None"]  # (quality share, cost) per candidate -> best


def _picker(target: Target) -> Picker:
    def pick(share: F64, cost: F64) -> int | None:
        if target.kind == "quality":
            ok, primary, secondary = share >= target.value - EPS, cost, -share
        else:
            ok, primary, secondary = cost <= target.value + EPS, -share, cost
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return None
        return int(idx[np.lexsort((secondary[idx], primary[idx]))[0]])

    return pick


@dataclass(frozen=True)
class Tuned:
    cutpoints: list[float]
    tuning_value: float  # the target's metric on the tuning rows
    tuning_rows: int


def choose_cutpoints(scores: F64, quality: F64, target: Target, prices: F64 | None = None) -> Tuned:
    """Cut-points (len tiers - 1) meeting `target` on these rows; InputError if none can."""
    if quality.ndim != 2 or quality.shape[1] < 2 or quality.shape[0] != scores.size:
        raise ValueError("quality must be (rows, tiers >= 2) and match the scores")
    if target.kind == "cost" and prices is None:
        raise InputError("a cost= target needs --prices, e.g. --prices weak=0.6,strong=10")
    data = _Sorted(scores, quality)
    price = prices if prices is not None else np.arange(data.tiers, dtype=np.float64)
    top_quality = float(quality[:, -1].mean())
    if top_quality <= 0:
        raise InputError("the top tier's quality is 0 on the tuning rows: check the columns")

    if target.kind == "strong-share":
        top = data.nearest_valid(data.n * (1.0 - target.value))
        steps = data.tiers - 1
        pos = np.array([[data.nearest_valid(top * j / steps) for j in range(1, steps)] + [top]])
    else:
        pos = _search(data, price, _picker(target), target, top_quality)
    q, shares = data.evaluate(pos)
    value = {
        "quality": q[0] / top_quality,
        "cost": float(shares[0] @ price),
        "strong-share": float(shares[0, -1]),
    }[target.kind]
    return Tuned([data.cut(int(k)) for k in pos[0]], float(value), data.n)


def _search(data: _Sorted, price: F64, pick: Picker, target: Target, top_quality: float) -> I64:
    if data.tiers == 2:
        combos = data.valid[:, None]
    else:
        grid = np.unique(
            [data.nearest_valid(q * data.n) for q in np.linspace(0, 1, GRID_QUANTILES)]
        )
        combos = np.array(list(itertools.combinations_with_replacement(grid, data.tiers - 1)))
    q, shares = data.evaluate(combos)
    best = pick(q / top_quality, shares @ price)
    if best is None:
        raise _unreachable(target, q / top_quality, shares @ price, data.n)
    pos = combos[best].copy()
    for _ in range(2 if data.tiers > 2 else 0):
        for j in range(pos.size):
            lo = pos[j - 1] if j > 0 else 0
            hi = pos[j + 1] if j + 1 < pos.size else data.n
            cand = data.valid[(data.valid >= lo) & (data.valid <= hi)]
            trial = np.repeat(pos[None, :], cand.size, axis=0)
            trial[:, j] = cand
            q, shares = data.evaluate(trial)
            choice = pick(q / top_quality, shares @ price)
            if choice is not None:  # the current position is a candidate, so never worse
                pos = trial[choice].copy()
    found: I64 = pos[None, :]
    return found


def _unreachable(target: Target, share: F64, cost: F64, n: int) -> InputError:
    if target.kind == "quality":
        best = math.floor(float(share.max()) * 1000) / 1000  # rounded down: itself reachable
        return InputError(
            f"--target {target} is out of reach: on the {n} tuning rows the best cut-points give "
            f"{best:.3f} x the top tier's quality; ask for at most {best:.3f}"
        )
    return InputError(
        f"--target {target} is below the cheapest possible cost, {cost.min():.4g} USD per 1k "
        "requests (everything to the cheapest tier); raise it or lower --prices"
    )
