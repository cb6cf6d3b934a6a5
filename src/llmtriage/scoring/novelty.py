"""How unlike the training data a prompt is: distance to the nearest training centroid.

The scorer was fitted on benchmark prompts; on a prompt far from all of them its
score is an extrapolation. Novelty = 1 − the cosine similarity of the prompt's
embedding to its nearest k-means centroid of the training embeddings, so it reuses the
embedding the scorer already computed (k dot products). The
threshold is the (1 − rate) quantile of held-out in-distribution prompts' novelty: by
construction about `rate` of prompts like the training data exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class NoveltyModel:
    centroids: F32  # (k, dim), L2-normalised
    threshold: float
    rate: float  # share of held-out in-distribution prompts above the threshold, by design

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2 or self.centroids.shape[0] == 0:
            raise ValueError("novelty centroids must be a non-empty (k, dim) matrix")

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    def novelty(self, embedding: F32) -> float:
        return 1.0 - float(np.max(self.centroids @ embedding))

    def novelty_batch(self, embeddings: F32) -> npt.NDArray[np.float64]:
        sims = embeddings @ self.centroids.T
        return np.asarray(1.0 - sims.max(axis=1), dtype=np.float64)

    def is_novel(self, novelty: float) -> bool:
        return novelty > self.threshold
