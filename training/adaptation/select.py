"""Prior strength chosen by what is evaluated: inner-CV APGR on the labelled rows.

prior.py's inner CV picks λ by the squared error of the difficulty target; a router
needs the order of the expected gain, which the error of a 1-d target only loosely
tracks. Here each λ (and λ = ∞: the base's head kept, models recalibrated only) is
scored by the APGR of out-of-fold expected gains over the labelled rows' own model
pairs (each fold: head and calibrations fitted on the other folds, exactly as adapt.py
fits them). Only the labelled rows are used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from llmtriage.scoring.artifact import Weights
from llmtriage_train.adaptation.adapt import (
    CAL_PRIOR,
    NEW_MODEL_PRIOR,
    Adapted,
    Column,
    adapt,
    fit_calibration,
    penalty_scale,
)
from llmtriage_train.adaptation.design import coefficients, design
from llmtriage_train.adaptation.prior import INNER_FOLDS, LAMBDAS, Kernel
from llmtriage_train.features.featurize import RawFeatures
from llmtriage_train.generalisation.evaluation import score_source, task_apgr
from llmtriage_train.model.crossval import fold_ids

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
GRID: tuple[float, ...] = (*LAMBDAS, math.inf)


def _oof_gain_apgr(
    d_of_fold: Sequence[tuple[I64, I64, F64]],
    calibration: Mapping[str, tuple[float, float]],
    columns: Sequence[Column],
    n: int,
) -> float:
    """APGR (extreme pair, averaged over sources) of out-of-fold P(answers) differences."""
    p = {c.name: np.full(n, np.nan) for c in columns}
    for train, test, d in d_of_fold:
        in_train, in_test = np.isin(np.arange(n), train), np.isin(np.arange(n), test)
        for c in columns:
            fit_rows = c.rows[in_train[c.rows]]
            known = c.name in calibration
            slope, intercept = fit_calibration(
                d[fit_rows],
                c.quality[in_train[c.rows]],
                calibration[c.name] if known else (0.0, 0.0),
                CAL_PRIOR if known else NEW_MODEL_PRIOR,
            )
            at = c.rows[in_test[c.rows]]
            p[c.name][at] = 1.0 / (1.0 + np.exp(-(intercept - slope * d[at])))
    scores = {}
    for s in dict.fromkeys(c.block for c in columns):
        cols = [c for c in columns if c.block == s]
        rows = cols[0].rows
        probs = np.column_stack([p[c.name][rows] for c in cols])
        quality = np.column_stack([c.quality for c in cols])

        def scorer(weak: int, strong: int, probs: F64 = probs) -> F64:
            return probs[:, strong] - probs[:, weak]

        result = score_source(scorer, quality)
        if result is not None:
            scores[s] = result
    return task_apgr(scores) if scores else 0.5


def routing_cv(
    weights: Weights,
    calibration: Mapping[str, tuple[float, float]],
    raw: RawFeatures,
    target: F64,
    columns: Sequence[Column],
    groups: Sequence[str],
    grid: Sequence[float] = GRID,
) -> dict[float, float]:
    """Inner-CV APGR per λ (columns compared within their `block`)."""
    x = design(raw, weights)
    w0, b0 = coefficients(weights), float(weights.intercept[0])
    d0 = np.asarray(x @ w0).ravel() + b0
    kernel = Kernel(x, target, w0, b0, penalty_scale(x, weights, raw.embeddings.shape[1]))
    fold = fold_ids(list(groups), INNER_FOLDS)
    n = len(groups)
    everything = np.arange(n)
    out = {}
    for lam in grid:
        per_fold = []
        for f in np.unique(fold):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            if train.size < 2 or test.size == 0:
                continue
            d = d0.copy()
            if math.isfinite(lam):
                a, shift = kernel.solve(train, lam)
                d = d0 + kernel.predict(train, a, shift, everything)
                d += d0[train].mean() - d[train].mean()  # anchored as adapt() anchors
            per_fold.append((train, test, d))
        out[lam] = _oof_gain_apgr(per_fold, calibration, columns, n)
    return out


def adapt_by_routing_cv(
    weights: Weights,
    calibration: Mapping[str, tuple[float, float]],
    raw: RawFeatures,
    target: F64,
    columns: Sequence[Column],
    groups: Sequence[str],
) -> Adapted:
    """adapt() with λ (∞: calibration only) of the best inner-CV APGR; ties: stronger prior."""
    cv = routing_cv(weights, calibration, raw, target, columns, groups)
    lam = max(cv, key=lambda k: (cv[k], k))
    head = math.isfinite(lam)
    adapted = adapt(
        weights, calibration, raw, target, columns, groups=groups, lam=lam if head else None,
        refit_head=head,
    )  # fmt: skip
    return dataclasses.replace(adapted, cv_apgr=cv)
