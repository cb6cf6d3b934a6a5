"""Fit the novelty model: k-means centroids of training embeddings, threshold calibrated
on held-out in-distribution prompts (see llmtriage.scoring.novelty)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans

from llmtriage.embedding.base import l2_normalise
from llmtriage.scoring.novelty import NoveltyModel

F32 = npt.NDArray[np.float32]
DEFAULT_RATE = 0.05
DEFAULT_CENTROIDS = 64


def fit_novelty(
    train: F32,
    calibration: F32,
    *,
    rate: float = DEFAULT_RATE,
    k: int = DEFAULT_CENTROIDS,
    seed: int = 0,
) -> NoveltyModel:
    """Centroids from `train`; threshold so that `rate` of `calibration` lies above it.

    `calibration` must be prompts like the training data that the centroids did not see,
    or the threshold is too tight (each training prompt pulls its centroid towards it).
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    if len(calibration) == 0:
        raise ValueError("novelty calibration needs held-out prompts")
    k = min(k, len(train))
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit(train)
    centroids = l2_normalise(km.cluster_centers_.astype(np.float32))
    draft = NoveltyModel(centroids, threshold=0.0, rate=rate)
    threshold = float(np.quantile(draft.novelty_batch(calibration), 1.0 - rate))
    return NoveltyModel(centroids, threshold=threshold, rate=rate)
