"""Ridge regression toward a prior: minimise ||y − Xw − b||² + λ·||D(w − w0)||².

A Gaussian prior N(w0, 1/λ) on the weights: with few labelled rows the fit stays near
the base (large λ), with many it moves to what the rows say. Solved in the dual: with
n ≤ a few hundred rows and ~260k columns, the n × n kernel is the cheap side, and the
same kernel serves every λ and every inner fold. The intercept is free (unpenalised).
`scale` (D) puts a column's penalty on the scale of its spread: the base recipe
standardised some columns before its fit and export folded that scaling away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from llmtriage_train.model.crossval import fold_ids

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
# prior strengths the inner CV chooses from; the largest all but keeps the base's
# weights (only the intercept moves), so "do not refit" is one of the choices
LAMBDAS: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 1e5)
INNER_FOLDS = 5


@dataclass(frozen=True)
class PriorFit:
    coef: F64
    intercept: float
    lam: float
    cv_mse: dict[float, float]  # inner-CV mean squared error per λ (empty: λ was given)


class Kernel:
    """Everything a fit needs, computed once: residuals against the base and the
    scaled kernel K = X D⁻² Xᵀ."""

    def __init__(self, x: sp.csr_matrix, y: F64, w0: F64, b0: float, scale: F64) -> None:
        self.x, self.scale = x, scale
        self.r = y - (np.asarray(x @ w0).ravel() + b0)
        xs = sp.csr_matrix(x @ sp.diags(1.0 / scale))
        self.k = np.asarray((xs @ xs.T).todense(), dtype=np.float64)

    def solve(self, rows: I64, lam: float) -> tuple[F64, float]:
        """Dual weights a (over `rows`) and the intercept shift, for the rows' fit."""
        k, r = self.k[np.ix_(rows, rows)], self.r[rows]
        n = rows.size
        h = np.eye(n) - 1.0 / n
        a: F64 = np.linalg.solve(h @ k @ h + lam * np.eye(n), r - r.mean())
        shift = float(np.mean(r - k @ a))
        return a, shift

    def predict(self, rows: I64, a: F64, shift: float, at: I64) -> F64:
        """Predicted residual at rows `at` of the fit on `rows`."""
        out: F64 = self.k[np.ix_(at, rows)] @ a + shift
        return out

    def coef(self, rows: I64, a: F64) -> F64:
        """Primal weight change v = D⁻² Xᵀ a."""
        v: F64 = np.asarray(self.x[rows].T @ a).ravel() / self.scale**2
        return v


def inner_cv(kernel: Kernel, groups: Sequence[str], lambdas: Sequence[float]) -> dict[float, float]:
    """Mean held-out squared error per λ over INNER_FOLDS folds by group (rows sharing a
    question stay in one fold)."""
    fold = fold_ids(list(groups), INNER_FOLDS)
    errors: dict[float, list[float]] = {lam: [] for lam in lambdas}
    for f in np.unique(fold):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        if train.size < 2 or test.size == 0:
            continue
        for lam in lambdas:
            a, shift = kernel.solve(train, lam)
            err = kernel.r[test] - kernel.predict(train, a, shift, test)
            errors[lam].append(float(np.mean(err**2)) * test.size)
    n = len(groups)
    return {lam: float(np.sum(e)) / n for lam, e in errors.items() if e}


def prior_ridge(
    x: sp.csr_matrix,
    y: F64,
    w0: F64,
    b0: float,
    *,
    groups: Sequence[str],
    scale: F64 | None = None,
    lam: float | None = None,
    lambdas: Sequence[float] = LAMBDAS,
) -> PriorFit:
    """The weights near (w0, b0) that fit y; λ by inner CV on these rows unless given."""
    d = np.ones(x.shape[1]) if scale is None else scale
    kernel = Kernel(x, y, w0, b0, d)
    cv: dict[float, float] = {}
    if lam is None:
        cv = inner_cv(kernel, groups, lambdas)
        # the smallest error; a tie goes to the stronger prior
        lam = min(cv, key=lambda k: (cv[k], -k)) if cv else max(lambdas)
    rows = np.arange(x.shape[0])
    a, shift = kernel.solve(rows, lam)
    return PriorFit(w0 + kernel.coef(rows, a), b0 + shift, lam, cv)
