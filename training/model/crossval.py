"""Model selection by cross-validation on the pooled training rows.

Folds come from a hash of the prompt (duplicates stay together), and each
candidate (label kind, C) is judged by the mean APGR of its out-of-fold scores
over the benchmarks — the quantity routing cares about, not log-loss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from joblib import Parallel, delayed
from tqdm import tqdm

from llmtriage_train.evaluation import metrics
from llmtriage_train.model.fit import (
    LinearHeads,
    balanced_weights,
    combine,
    fit_heads,
    fit_heads_with_offsets,
    head_targets,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
# lbfgs stopping tolerance. Model selection runs at TOL: a fit at FIT_TOL takes about
# twice as long (83 s against 39 s for five, in scratch runs not in this repository;
# docs/model-experiments.md round 4), which would take the grid's ~2.5 min past the
# 5-minute budget. With every CV fit at FIT_TOL single
# candidates' means move by up to 0.007, but the same candidate wins (0.6602 against
# 0.6597).
# The exported model and the leave-one-out fits use FIT_TOL: at 1e-3 a ~1e-4 change
# in the embeddings moved held-out GSM8K APGR by 0.015 and MT-Bench's by 0.09; at
# 1e-5 by < 0.001, and 1e-6 gives the same model (same scratch runs).
TOL = 1e-3
FIT_TOL = 1e-5
# Benchmarks with fewer training rows than this (MT-Bench: 57) are reported but do not
# vote in model selection: on so few prompts APGR moves by ±0.05 between folds, which
# measured larger than any difference between the candidates.
MIN_ROWS_FOR_SELECTION = 100


@dataclass(frozen=True)
class Candidate:
    label: str
    c: float
    balance: float = 0.0  # power of the per-benchmark row weighting (0 = none, 1 = equal)
    offsets: bool = False  # a free per-benchmark intercept while fitting (fit.py says why)
    stat_products: bool = False  # second-order prompt statistics (features.stat_products)


@dataclass(frozen=True)
class CvResult:
    candidate: Candidate
    mean_apgr: float
    per_set: dict[str, float]
    oof_scores: F64


def fold_ids(prompts: Sequence[str], k: int) -> I64:
    return np.array(
        [int(hashlib.sha256(p.encode()).hexdigest()[:8], 16) % k for p in prompts], dtype=np.int64
    )


def fit_candidate(
    x: sp.csr_matrix,
    weak: F64,
    strong: F64,
    groups: Sequence[str],
    cand: Candidate,
    *,
    tol: float = TOL,
) -> LinearHeads:
    weights = balanced_weights(list(groups), cand.balance) if cand.balance > 0 else None
    targets = head_targets(cand.label, weak, strong)
    if cand.offsets:
        return fit_heads_with_offsets(
            x, targets, np.asarray(groups), c=cand.c, sample_weight=weights, tol=tol
        )
    return fit_heads(x, targets, c=cand.c, sample_weight=weights, tol=tol)


def _fold_scores(
    x: sp.csr_matrix,
    weak: F64,
    strong: F64,
    groups: npt.NDArray[np.str_],
    train: I64,
    held: I64,
    cand: Candidate,
) -> tuple[I64, F64]:
    heads = fit_candidate(x[train], weak[train], strong[train], list(groups[train]), cand)
    return held, combine(cand.label, heads.probs(x[held]))


def cross_validate(
    x: sp.csr_matrix,
    weak: F64,
    strong: F64,
    set_names: Sequence[str],
    folds: I64,
    candidates: Sequence[Candidate],
    *,
    jobs: int,
) -> list[CvResult]:
    k = int(folds.max()) + 1
    groups = np.asarray(set_names)
    tasks = [
        (cand, np.flatnonzero(folds != f), np.flatnonzero(folds == f))
        for cand in candidates
        for f in range(k)
    ]
    outputs = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(_fold_scores)(x, weak, strong, groups, tr, held, cand) for cand, tr, held in tasks
    )
    oof = {cand: np.zeros(len(weak)) for cand in candidates}
    for (cand, _, _), (held, scores) in tqdm(
        zip(tasks, outputs, strict=True), total=len(tasks), desc="cross-validation", unit="fit"
    ):
        oof[cand][held] = scores
    return [_summarise(cand, oof[cand], weak, strong, set_names) for cand in candidates]


def _summarise(
    cand: Candidate, scores: F64, weak: F64, strong: F64, set_names: Sequence[str]
) -> CvResult:
    names = np.asarray(set_names)
    per_set = {}
    for name in dict.fromkeys(set_names):
        rows = names == name
        if weak[rows].mean() != strong[rows].mean():
            per_set[name] = metrics.apgr(scores[rows], weak[rows], strong[rows])
    voting = [v for k, v in per_set.items() if (names == k).sum() >= MIN_ROWS_FOR_SELECTION]
    return CvResult(cand, float(np.mean(voting)), per_set, scores)
