"""What a known difficulty would be worth: APGR per task when the score is the true
(in-sample) Rasch difficulty itself, and when it is the pair's expected gain computed
from it and the fitted abilities. An upper bound for any difficulty scorer, and the
reason the served score is the expected gain, not the difficulty.

    python -m llmtriage_train.generalisation.oracle
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from llmtriage_train.data.datasets import DataError
from llmtriage_train.generalisation.difficulty import fit_rasch_rows
from llmtriage_train.generalisation.evaluation import PairScorer, fixed_scorer, score_source
from llmtriage_train.generalisation.tasks import TaskTable, load_tasks

F64 = npt.NDArray[np.float64]


def _expected_gain(p: F64) -> PairScorer:
    """P(strong right) - P(weak right) from each model's P on each row."""

    def scorer(weak: int, strong: int) -> F64:
        gain: F64 = p[:, strong] - p[:, weak]
        return gain

    return scorer


def oracle_rows(table: TaskTable) -> list[tuple[str, str, float, float]]:
    """(task, source, APGR ranking by difficulty, APGR ranking by expected gain)."""
    fit, item, model_id = fit_rasch_rows(
        table.keys, table.source, table.quality, table.local, table.models
    )
    b = fit.item_difficulty[item]
    out = []
    for task in table.tasks:
        for s, names in table.models.items():
            rows = table.rows(task=task, source=s)
            if rows.size == 0:
                continue
            q = table.block(rows, s)
            theta = np.array([fit.ability[model_id[(s, m)]] for m in names])
            p = expit(theta[None, :] - b[rows][:, None])
            by_difficulty = score_source(fixed_scorer(b[rows]), q)
            by_gain = score_source(_expected_gain(p), q)
            if by_difficulty is not None and by_gain is not None:
                out.append((task, s, by_difficulty.apgr_extreme_pair, by_gain.apgr_extreme_pair))
    return out


def main() -> int:
    try:
        table = load_tasks()
    except (DataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = oracle_rows(table)
    print("| task | source | true difficulty | expected gain from it |")
    print("|---|---|---:|---:|")
    for task, s, d, g in rows:
        print(f"| {task} | {s} | {d:.3f} | {g:.3f} |")
    mean_d, mean_g = np.mean([r[2] for r in rows]), np.mean([r[3] for r in rows])
    print(f"| **mean** | | **{mean_d:.3f}** | **{mean_g:.3f}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
