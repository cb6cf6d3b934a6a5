"""Feature matrices for training, built with the serving code's own feature functions.

The scorer computes features one prompt at a time; here the same functions fill
matrices, so training and serving cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from llmtriage.scoring.features import LexicalSpec, lexical_counts, stat_products, stats_matrix
from llmtriage.text import truncate
from llmtriage_train.features.embed_cache import EmbeddingCache

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RawFeatures:
    embeddings: F32  # (n, dim)
    stats: F32  # (n, n_stats), unscaled
    counts: sp.csr_matrix  # (n, n_buckets) n-gram counts

    def rows(self, idx: npt.NDArray[np.int64]) -> RawFeatures:
        return RawFeatures(self.embeddings[idx], self.stats[idx], self.counts[idx])


def raw_features(
    texts: Sequence[str], cache: EmbeddingCache, spec: LexicalSpec, *, max_chars: int
) -> RawFeatures:
    cut = [truncate(t, max_chars) for t in texts]
    embeddings = cache.embed(cut)
    return RawFeatures(embeddings, stats_matrix(cut), count_matrix(cut, spec))


def count_matrix(texts: Sequence[str], spec: LexicalSpec) -> sp.csr_matrix:
    """The texts' hashed n-gram counts as a sparse (n, n_buckets) matrix."""
    indptr, indices, data = [0], [], []
    for text in texts:
        ids, counts = lexical_counts(text, spec)
        indices.append(ids)
        data.append(counts)
        indptr.append(indptr[-1] + ids.size)
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)),
        shape=(len(texts), spec.n_buckets),
        dtype=np.float32,
    )


def fit_idf(counts: sp.csr_matrix) -> F32:
    """Smoothed idf, as scikit-learn's TfidfTransformer(smooth_idf=True) computes it."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf: F32 = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    return idf


def tfidf_matrix(counts: sp.csr_matrix, idf: F32) -> sp.csr_matrix:
    """Sublinear tf × idf with row L2 norm: the matrix form of features.tfidf."""
    m = counts.copy().astype(np.float32)
    m.data = 1.0 + np.log(m.data)
    m = m.multiply(idf[np.newaxis, :]).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)


@dataclass(frozen=True)
class Scaling:
    """Everything needed to turn raw features into the model's input matrix."""

    stats_mean: F32
    stats_scale: F32
    idf: F32
    block_weights: tuple[float, float, float]  # embedding, stats, lexical
    # features.stat_products appended to the stats block, standardised with these
    # (export folds them into the weights, so serving applies no scaling of its own)
    products_mean: F32 | None = None
    products_scale: F32 | None = None

    @property
    def stat_products(self) -> bool:
        return self.products_mean is not None

    @staticmethod
    def fit(
        raw: RawFeatures,
        block_weights: tuple[float, float, float],
        *,
        stat_products: bool = False,
    ) -> Scaling:
        mean = raw.stats.mean(axis=0)
        scale = raw.stats.std(axis=0)
        scale[scale == 0] = 1.0
        p_mean = p_scale = None
        if stat_products:
            products = _products(raw.stats, mean, scale)
            p_mean, p_scale = products.mean(axis=0), products.std(axis=0)
            p_scale[p_scale == 0] = 1.0
        return Scaling(
            mean,
            scale.astype(np.float32),
            fit_idf(raw.counts),
            block_weights,
            p_mean,
            p_scale,
        )

    def matrix(self, raw: RawFeatures) -> sp.csr_matrix:
        w_emb, w_stats, w_lex = self.block_weights
        stats = ((raw.stats - self.stats_mean) / self.stats_scale).astype(np.float32)
        if self.products_mean is not None and self.products_scale is not None:
            products = stat_products(stats).astype(np.float32)
            stats = np.hstack([stats, (products - self.products_mean) / self.products_scale])
        blocks = [sp.csr_matrix(raw.embeddings * w_emb), sp.csr_matrix(stats * w_stats)]
        if w_lex > 0:
            blocks.append(tfidf_matrix(raw.counts, self.idf) * w_lex)
        return sp.hstack(blocks, format="csr", dtype=np.float32)


def _products(stats: F32, mean: F32, scale: F32) -> F32:
    return stat_products(((stats - mean) / scale).astype(np.float32)).astype(np.float32)
