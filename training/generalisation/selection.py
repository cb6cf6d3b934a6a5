"""Pick the default recipe: best mean leave-one-task-out APGR, ties broken in distribution.

Candidates whose LOTO mean trails the best by less than two standard errors of their
paired per-task difference are ties: on 18 tasks, recipes that differ only in solver
details already move the mean by ±0.003–0.005, so a smaller gap is not evidence. Among
ties the best in-distribution mean wins (it is what the scorer does on traffic like its
training data, and costs nothing off it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmtriage_train.generalisation.loto import LotoResult


def paired_gap(best: LotoResult, other: LotoResult) -> tuple[float, float]:
    """Mean per-task APGR gap (best − other) over the tasks both have, and its SE."""
    tasks = sorted(set(best.tasks) & set(other.tasks))
    d = np.array([best.tasks[t].apgr - other.tasks[t].apgr for t in tasks])
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    return float(d.mean()), se


def select(results: Sequence[LotoResult]) -> tuple[LotoResult, list[str]]:
    """(winner, names of the candidates tied with the best LOTO mean)."""
    if not results:
        raise ValueError("no candidates to select from")
    best = max(results, key=lambda r: r.mean_apgr)
    ties = []
    for r in results:
        gap, se = paired_gap(best, r)
        if r is best or gap < 2.0 * se:
            ties.append(r)
    winner = max(ties, key=lambda r: (r.in_distribution_mean or 0.0, r.mean_apgr))
    return winner, [r.name for r in ties]
