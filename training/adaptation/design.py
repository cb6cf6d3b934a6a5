"""The served design matrix of an artifact: what its weights multiply, row by row.

Serving computes a prompt's logit from [embedding | standardised stats | products of
the clipped standardised stats] and the L2-normalised tf-idf of its n-grams (export
folded the training scaling into the weights). Adaptation refits those same weights,
so it needs the same columns, built here from raw features with the artifact's own
statistics scaling and idf: the featuriser is reused unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from llmtriage.scoring.artifact import Weights
from llmtriage.scoring.features import stat_products
from llmtriage_train.features.featurize import RawFeatures, tfidf_matrix

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Layout:
    """Column blocks of the design: [dense (embedding, stats, products) | lexical]."""

    dim: int  # embedding columns
    n_stats: int
    n_products: int
    n_lexical: int

    @property
    def n_dense(self) -> int:
        return self.dim + self.n_stats + self.n_products

    @property
    def products(self) -> slice:
        start = self.dim + self.n_stats
        return slice(start, start + self.n_products)


def layout(weights: Weights, dim: int) -> Layout:
    n_stats = int(weights.stats_mean.size)
    n_lexical = 0 if weights.lexical_coef is None else int(weights.lexical_coef.shape[1])
    return Layout(dim, n_stats, int(weights.dense_coef.shape[1]) - dim - n_stats, n_lexical)


def design(raw: RawFeatures, weights: Weights) -> sp.csr_matrix:
    """(rows, columns) matrix whose product with `coefficients(weights)` plus the
    intercept is the served difficulty logit."""
    z = ((raw.stats - weights.stats_mean) / weights.stats_scale).astype(np.float32)
    dim = raw.embeddings.shape[1]
    blocks = [raw.embeddings, z]
    if weights.dense_coef.shape[1] > dim + z.shape[1]:  # the artifact has stat products
        blocks.append(stat_products(z).astype(np.float32))
    parts = [sp.csr_matrix(np.hstack(blocks).astype(np.float64))]
    if weights.lexical_coef is not None and weights.idf is not None:
        parts.append(tfidf_matrix(raw.counts, weights.idf).astype(np.float64))
    return sp.hstack(parts, format="csr")


def coefficients(weights: Weights, head: int = 0) -> F64:
    """One head's weights in design order."""
    parts = [weights.dense_coef[head]]
    if weights.lexical_coef is not None:
        parts.append(weights.lexical_coef[head])
    return np.concatenate(parts).astype(np.float64)


def with_coefficients(weights: Weights, coef: F64, intercept: float) -> Weights:
    """`weights` with its single head replaced (scaling, idf, novelty kept)."""
    n_dense = weights.dense_coef.shape[1]
    lexical = None
    if weights.lexical_coef is not None:
        lexical = coef[None, n_dense:].astype(np.float32)
    return Weights(
        dense_coef=coef[None, :n_dense].astype(np.float32),
        intercept=np.array([intercept], dtype=np.float32),
        stats_mean=weights.stats_mean,
        stats_scale=weights.stats_scale,
        lexical_coef=lexical,
        idf=weights.idf,
        novelty_centroids=weights.novelty_centroids,
    )
