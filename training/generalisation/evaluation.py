"""APGR of a score on one task's rows, per source, over that source's model pairs.

Each source has its own models. Per source, the task's model pairs are ordered by
their mean quality on the task's rows (the lower one is "weak"); the extreme pair is
the weakest against the strongest, and the mean is over every pair whose means differ
by at least MIN_GAP (closer pairs have no gap worth routing over, and APGR divides by it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from llmtriage_train.evaluation import metrics

F64 = npt.NDArray[np.float64]
MIN_GAP = 0.05
PairScorer = Callable[[int, int], F64]  # (weak column, strong column) -> scores


@dataclass(frozen=True)
class SourceScore:
    apgr_extreme_pair: float
    apgr_mean_pairs: float
    pairs: int
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "apgr_extreme_pair": self.apgr_extreme_pair,
            "apgr_mean_pairs": self.apgr_mean_pairs,
            "pairs": self.pairs,
            "n": self.n,
        }


def fixed_scorer(scores: F64) -> PairScorer:
    """The same scores whatever the pair (a difficulty, a baseline)."""

    def scorer(weak: int, strong: int) -> F64:
        return scores

    return scorer


def lifted_scorer(base: PairScorer, lift: F64) -> PairScorer:
    """`base` plus a per-row lift, whatever the pair."""

    def scorer(weak: int, strong: int) -> F64:
        return base(weak, strong) + lift

    return scorer


def score_source(scorer: PairScorer, quality: F64) -> SourceScore | None:
    """APGR of `scorer(weak column, strong column)` (higher = send to strong) over the
    pairs of `quality`'s model columns. None when no pair differs on these rows."""
    means = quality.mean(axis=0)
    lo, hi = int(np.argmin(means)), int(np.argmax(means))
    if means[hi] - means[lo] <= 0:
        return None
    extreme = metrics.apgr(scorer(lo, hi), quality[:, lo], quality[:, hi])
    pair_values = []
    for a, b in combinations(range(quality.shape[1]), 2):
        weak, strong = (a, b) if means[a] < means[b] else (b, a)
        if means[strong] - means[weak] >= MIN_GAP:
            pair_values.append(
                metrics.apgr(scorer(weak, strong), quality[:, weak], quality[:, strong])
            )
    mean_pairs = float(np.mean(pair_values)) if pair_values else extreme
    return SourceScore(extreme, mean_pairs, len(pair_values), int(quality.shape[0]))


def task_apgr(per_source: dict[str, SourceScore]) -> float:
    """A task's figure: its extreme-pair APGR averaged over the sources that hold it."""
    return float(np.mean([s.apgr_extreme_pair for s in per_source.values()]))
