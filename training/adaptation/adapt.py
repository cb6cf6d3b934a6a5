"""Refit a difficulty artifact's head and calibration on a few labelled rows.

The base's weights are the prior (prior.py): the head is ridge-regressed toward them
on the rows' Rasch difficulty (the base recipe's target, fitted on these rows alone),
with the prior strength λ chosen by inner cross-validation on the same rows. The
refitted head's location is then anchored to the base's (same mean predicted
difficulty on these rows), so that the calibrations of models the rows do not cover
keep their meaning. Each model the rows do cover is recalibrated, P(answers) =
sigmoid(slope · −d + intercept), by a logistic fit with a Gaussian prior at the base's
calibration (precision CAL_PRIOR, as the Rasch fit's own prior) or, for a model the base
never saw, a weak one at zero. The embedder, statistics scaling and idf stay the base's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import log_expit

from llmtriage.scoring.artifact import Weights
from llmtriage_train.adaptation.design import coefficients, design, layout, with_coefficients
from llmtriage_train.adaptation.prior import PriorFit, prior_ridge
from llmtriage_train.features.featurize import RawFeatures

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
CAL_PRIOR = 1.0  # precision of the prior at the base's (slope, intercept)
NEW_MODEL_PRIOR = 0.01  # at (0, 0) for a model without base calibration (C = 100 as in training)
METHOD = "prior-ridge head (λ by inner CV) + prior-calibrated models"


@dataclass(frozen=True)
class Column:
    """One model's outcomes on some of the labelled rows (positions into them)."""

    name: str  # its calibration key
    rows: I64
    quality: F64  # in [0, 1]
    block: str = "data"  # the models it is compared with (a source): same rows, one block


@dataclass(frozen=True)
class Adapted:
    weights: Weights
    calibration: dict[str, tuple[float, float]]  # every base model, refitted where covered
    fit: PriorFit
    refitted: list[str] = field(default_factory=list)  # calibration keys the rows covered
    cv_apgr: dict[float, float] = field(default_factory=dict)  # select.py's inner CV, if run

    def parameters(self) -> dict[str, Any]:
        return {
            "lambda": self.fit.lam if math.isfinite(self.fit.lam) else "inf (head kept)",
            "lambda_grid_cv_mse": {str(k): v for k, v in self.fit.cv_mse.items()},
            "lambda_grid_cv_apgr": {str(k): v for k, v in self.cv_apgr.items()},
            "calibration_prior_precision": CAL_PRIOR,
            "recalibrated_models": self.refitted,
        }


def penalty_scale(x: Any, weights: Weights, dim: int) -> F64:
    """Per column of the design, the scale its penalty is measured on: 1, except the
    stat products, which the base recipe standardised before fitting (export folded that
    away): their spread on these rows, at least 1 so that no column is penalised less
    than on its own scale."""
    lay = layout(weights, dim)
    scale = np.ones(x.shape[1])
    if lay.n_products:
        block = x[:, lay.products].toarray()
        scale[lay.products] = np.maximum(block.std(axis=0), 1.0)
    return scale


def fit_calibration(
    d: F64, q: F64, prior: tuple[float, float], precision: float
) -> tuple[float, float]:
    """MAP (slope, intercept) of P(answers) = sigmoid(slope·(−d) + intercept), soft labels."""
    p0 = np.asarray(prior, dtype=np.float64)

    def objective(params: F64) -> tuple[float, F64]:
        z = params[1] - params[0] * d
        nll = -float(np.sum(q * log_expit(z) + (1.0 - q) * log_expit(-z)))
        r = 1.0 / (1.0 + np.exp(-z)) - q  # d nll / dz
        grad = np.array([float(-(r @ d)), float(r.sum())])
        diff = params - p0
        return nll + 0.5 * precision * float(diff @ diff), grad + precision * diff

    res = minimize(objective, p0.copy(), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def adapt(
    weights: Weights,
    calibration: Mapping[str, tuple[float, float]],
    raw: RawFeatures,
    target: F64,
    columns: Sequence[Column],
    *,
    groups: Sequence[str],
    lam: float | None = None,
    refit_head: bool = True,
) -> Adapted:
    """The base (`weights`, `calibration`) adapted to the labelled rows `raw` with their
    difficulty `target` and model outcomes `columns`. `groups`: a key per row (rows that
    share one are the same question and stay in one inner fold). `lam`: a fixed prior
    strength instead of inner CV; `refit_head=False` keeps the base's head (calibration
    only)."""
    dim = raw.embeddings.shape[1]
    x = design(raw, weights)
    w0, b0 = coefficients(weights), float(weights.intercept[0])
    base_d = np.asarray(x @ w0).ravel() + b0
    if refit_head:
        fit = prior_ridge(
            x, target, w0, b0, groups=groups, scale=penalty_scale(x, weights, dim), lam=lam
        )
    else:
        fit = PriorFit(w0, b0, float("inf"), {})
    d = np.asarray(x @ fit.coef).ravel() + fit.intercept
    anchor = float(base_d.mean() - d.mean())  # the base's location on these rows
    adapted = with_coefficients(weights, fit.coef, fit.intercept + anchor)
    d = d + anchor
    cal = dict(calibration)
    for col in columns:
        known = col.name in calibration
        prior = calibration[col.name] if known else (0.0, 0.0)
        cal[col.name] = fit_calibration(
            d[col.rows], col.quality, prior, CAL_PRIOR if known else NEW_MODEL_PRIOR
        )
    return Adapted(adapted, cal, fit, [c.name for c in columns])


def difficulty_of(weights: Weights, raw: RawFeatures) -> F64:
    """The served difficulty logit of each row."""
    x = design(raw, weights)
    out: F64 = np.asarray(x @ coefficients(weights)).ravel() + float(weights.intercept[0])
    return out
