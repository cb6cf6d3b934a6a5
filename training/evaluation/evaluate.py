"""Evaluate an artifact through the serving Scorer, so the measured path is the served one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llmtriage.scoring import Scorer
from llmtriage_train.data.routing_sets import RoutingSet, mark_seen_test_rows
from llmtriage_train.evaluation import metrics
from llmtriage_train.evaluation.report import ROUTELLM_BEST, format_table, write_report

Results = dict[str, tuple[metrics.RoutingMetrics, metrics.RoutingCurves]]


def score_set(scorer: Scorer, prompts: Sequence[str], batch: int = 256) -> np.ndarray:
    out: list[float] = []
    for i in tqdm(range(0, len(prompts), batch), desc="scoring", unit="batch", leave=False):
        out.extend(scorer.score_batch(prompts[i : i + batch]))
    return np.asarray(out)


def evaluate_sets(scorer: Scorer, sets: Sequence[RoutingSet], *, split: str | None) -> Results:
    """Metrics per set on `split` (None: every row). A test row whose prompt is a training
    prompt of any set is not held out (routing_sets.mark_seen_test_rows)."""
    results: Results = {}
    for s in mark_seen_test_rows(sets):
        rows = s.indices(split) if split else np.arange(len(s))
        if rows.size == 0:
            continue
        part = s.rows(rows)
        scores = score_set(scorer, part.prompts)
        results[s.name] = (
            metrics.evaluate_scores(scores, part.weak, part.strong),
            metrics.routing_curves(scores, part.weak, part.strong),
        )
    return results


def write_evaluation(out: Path, results: Results, *, title: str) -> str:
    write_report(out, results, title=title, baselines=ROUTELLM_BEST)
    return format_table({k: m for k, (m, _) in results.items()}, baselines=ROUTELLM_BEST)
