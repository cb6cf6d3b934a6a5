"""Tiny hand-built artifacts for tests that need a Scorer but not a trained model.

The weights are chosen, not learnt: the score rises with prompt length and with
maths symbols, so tests can assert that a long maths problem lands in the top tier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring.artifact import Weights, save_artifact
from llmtriage.scoring.features import STAT_NAMES
from llmtriage.scoring.manifest import (
    FORMAT_VERSION,
    EmbedderRef,
    LabelDef,
    LexicalRef,
    Manifest,
    NoveltyRef,
    Thresholds,
    WeightsRef,
)


def _stats_mean() -> np.ndarray:
    mean = np.zeros(len(STAT_NAMES), dtype=np.float32)
    mean[STAT_NAMES.index("log_chars")] = 4.0
    mean[STAT_NAMES.index("log_words")] = 2.5
    mean[STAT_NAMES.index("mean_word_len")] = 4.0
    return mean


def make_tiny_artifact(
    directory: Path,
    *,
    tiers: tuple[str, ...] = ("cheap", "strong"),
    cutpoints: tuple[float, ...] = (0.5,),
    n_buckets: int = 1024,
    familiar: tuple[str, ...] = (),
    novelty_threshold: float = 0.5,
) -> Path:
    """`familiar`: prompts whose embeddings become the novelty centroids (none: no
    novelty model), so they score novelty ~0 and unrelated prompts ~1."""
    emb = HashingEmbedder()
    n_stats = len(STAT_NAMES)
    dense = np.zeros((2, emb.dim + n_stats), dtype=np.float32)
    # head 0 = P(strong good), head 1 = P(weak good): longer / mathier prompts favour strong
    dense[1, emb.dim + STAT_NAMES.index("log_words")] = -1.5
    dense[1, emb.dim + STAT_NAMES.index("math_frac")] = -1.0
    weights = Weights(
        dense_coef=dense,
        intercept=np.array([1.0, 1.0], dtype=np.float32),
        stats_mean=_stats_mean(),
        stats_scale=np.ones(n_stats, dtype=np.float32),
        lexical_coef=np.zeros((2, n_buckets), dtype=np.float32),
        idf=np.ones(n_buckets, dtype=np.float32),
        novelty_centroids=emb.embed(list(familiar)) if familiar else None,
    )
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name="tiny",
        model_version="tiny-test-1",
        created_at=datetime.now(UTC).isoformat(),
        embedder=EmbedderRef(kind=emb.kind, fingerprint=emb.fingerprint, dim=emb.dim),
        lexical=LexicalRef(n_buckets=n_buckets),
        stats=list(STAT_NAMES),
        label=LabelDef(kind="gain", heads=["strong_good", "weak_good"]),
        weights=WeightsRef(sha256="pending"),
        thresholds=Thresholds(tiers=list(tiers), cutpoints=list(cutpoints)),
        novelty=NoveltyRef(centroids=len(familiar), threshold=novelty_threshold, rate=0.05)
        if familiar
        else None,
    )
    save_artifact(directory, manifest, weights)
    return directory
