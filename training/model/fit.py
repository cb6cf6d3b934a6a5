"""Fit the logistic-regression heads that make up a complexity scorer.

Two routing targets are supported (see LabelDef in the manifest):
- `gain`: two heads, P(strong model good) and P(weak model good); the score is
  their difference, i.e. the expected quality gained by paying for the strong model.
- `weak_wrong`: one head, P(weak model fails).
Continuous quality (judge scores normalised to [0, 1]) is learnt as a soft label:
each row appears once as positive with weight q and once as negative with weight 1 − q.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

F64 = npt.NDArray[np.float64]


def head_targets(kind: str, weak: F64, strong: F64) -> list[tuple[str, F64]]:
    return TARGETS[kind](weak, strong)


TARGETS: dict[str, Callable[[F64, F64], list[tuple[str, F64]]]] = {
    "gain": lambda weak, strong: [("strong_good", strong), ("weak_good", weak)],
    "weak_wrong": lambda weak, strong: [("weak_wrong", 1.0 - weak)],
}


def combine(kind: str, probs: F64) -> F64:
    """Head probabilities (n, heads) → score in [0, 1]; mirrors scoring.scorer.SCORE_FROM_HEADS."""
    if kind == "gain":
        return (1.0 + probs[:, 0] - probs[:, 1]) / 2.0
    return probs[:, 0]


@dataclass(frozen=True)
class LinearHeads:
    coef: F64  # (heads, features)
    intercept: F64  # (heads,)

    def probs(self, x: sp.csr_matrix) -> F64:
        logits = np.asarray(x @ self.coef.T) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))


def _soft_rows(x: sp.csr_matrix, y: F64, w: F64) -> tuple[sp.csr_matrix, F64, F64]:
    hard = np.isin(y, (0.0, 1.0))
    if hard.all():
        return x, y, w
    x2 = sp.vstack([x, x], format="csr")
    labels = np.concatenate([np.ones_like(y), np.zeros_like(y)])
    weights = np.concatenate([y * w, (1.0 - y) * w])
    keep = weights > 0
    return x2[keep], labels[keep], weights[keep]


def balanced_weights(groups: list[str] | npt.NDArray[np.str_], power: float = 1.0) -> F64:
    """Row weights ∝ (rows of the row's group)^-power, mean 1. power=1 gives every group
    (benchmark) the same total weight; 0.5 only tempers the imbalance.

    Without them the 11k MMLU rows drown the 1k GSM8K rows in the pooled fit.
    """
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    w = (counts.astype(np.float64) ** -power)[inverse]
    weights: F64 = w * (len(w) / w.sum())
    return weights


# One-hot benchmark columns are scaled up so that their L2 penalty is 1/9 of a unit
# feature's: the offsets are nearly free, the prompt features are not.
OFFSET_SCALE = 3.0


def fit_heads_with_offsets(
    x: sp.csr_matrix,
    targets: list[tuple[str, F64]],
    groups: npt.NDArray[np.str_],
    *,
    c: float,
    sample_weight: F64 | None = None,
    tol: float = 1e-4,
) -> LinearHeads:
    """Heads fitted with a free offset per benchmark, which scoring then drops.

    A benchmark's mean gain is a property of its model pair and its grading, not of any
    one prompt; without offsets the weights spend themselves recognising benchmarks
    (MMLU's answer format, GSM8K's style), which is no help on traffic from elsewhere.
    With them, the weights learn what makes a prompt harder than its neighbours. A
    served prompt has no benchmark, so the offsets are folded into the intercept at
    their share of the training rows: the artifact keeps the plain linear form.
    """
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n, d = x.shape
    onehot = sp.csr_matrix(
        (np.full(n, OFFSET_SCALE), (np.arange(n), inverse)), shape=(n, names.size)
    )
    wide = fit_heads(
        sp.hstack([x, onehot], format="csr"), targets, c=c, sample_weight=sample_weight, tol=tol
    )
    share = np.bincount(inverse, minlength=names.size) / n
    intercept = wide.intercept + OFFSET_SCALE * wide.coef[:, d:] @ share
    return LinearHeads(wide.coef[:, :d], intercept)


def fit_heads(
    x: sp.csr_matrix,
    targets: list[tuple[str, F64]],
    *,
    c: float,
    sample_weight: F64 | None = None,
    tol: float = 1e-4,
) -> LinearHeads:
    coefs, intercepts = [], []
    base = np.ones(x.shape[0]) if sample_weight is None else sample_weight
    for _, y in targets:
        xs, ys, ws = _soft_rows(x, y, base)
        if np.unique(ys).size < 2:  # degenerate fold: predict the base rate
            coefs.append(np.zeros(x.shape[1]))
            intercepts.append(float(np.log((ys.mean() + 1e-6) / (1 - ys.mean() + 1e-6))))
            continue
        model = LogisticRegression(C=c, max_iter=2000, tol=tol)
        model.fit(xs, ys, sample_weight=ws)
        coefs.append(model.coef_[0])
        intercepts.append(float(model.intercept_[0]))
    return LinearHeads(np.vstack(coefs), np.array(intercepts))
