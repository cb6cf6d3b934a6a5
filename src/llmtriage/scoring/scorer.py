"""In-process scoring: `Scorer.load(path).score(text)`.

Loads a pickle-free artifact, rebuilds its embedder (or checks the one given),
and turns a prompt into a complexity score in [0, 1] — higher means the strong
model is more likely to be worth its price — plus the tier its thresholds pick.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage.embedding import EMBEDDERS, Embedder
from llmtriage.errors import ArtifactError, EmbedderMismatch
from llmtriage.scoring.artifact import Weights, check_shapes, read_manifest, read_weights
from llmtriage.scoring.features import (
    PRODUCT_CLIP,
    LexicalSpec,
    lexical_counts,
    pair_indices,
    prompt_stats,
)
from llmtriage.scoring.manifest import LabelDef, Manifest, Thresholds
from llmtriage.scoring.novelty import NoveltyModel
from llmtriage.text import scored_text, truncate, valid_utf8

Probs = Sequence[float]


def _gain(p: Probs) -> float:
    return (1.0 + p[0] - p[1]) / 2.0


def _first(p: Probs) -> float:
    return p[0]


# label kind -> how head probabilities become one score (explicit registry); the
# difficulty kind maps its logit through the label's calibration (from_logits below).
SCORE_FROM_HEADS: dict[str, Callable[[Probs], float]] = {"gain": _gain, "weak_wrong": _first}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def from_logits(label: LabelDef) -> Callable[[Sequence[float]], float]:
    """Head logits -> score in [0, 1] for the artifact's label kind."""
    if label.kind == "difficulty":
        weak, strong = label.calibration[label.weak_model], label.calibration[label.strong_model]

        def expected_gain(logits: Sequence[float]) -> float:
            d = logits[0]
            gain = _sigmoid(strong.intercept - strong.slope * d) - _sigmoid(
                weak.intercept - weak.slope * d
            )
            return (1.0 + gain) / 2.0

        return expected_gain
    combine = SCORE_FROM_HEADS[label.kind]
    return lambda logits: combine([_sigmoid(z) for z in logits])


@dataclass(frozen=True)
class ScoreResult:
    score: float
    tier: str


@dataclass(frozen=True)
class Assessment:
    """A prompt's score and, when the artifact has a novelty model, how unlike the
    training data it is (`novel`: above the calibrated threshold)."""

    score: float
    novelty: float | None = None
    novel: bool = False


class Scorer:
    def __init__(self, manifest: Manifest, weights: Weights, embedder: Embedder) -> None:
        _check_embedder(manifest, embedder)
        check_shapes(weights, manifest, f"model {manifest.model_version}")
        self.manifest = manifest
        self._w = weights
        self._embedder = embedder
        self._combine = from_logits(manifest.label)
        ref = manifest.novelty
        self._novelty = (
            NoveltyModel(weights.novelty_centroids, ref.threshold, ref.rate)
            if ref is not None and weights.novelty_centroids is not None
            else None
        )
        lex = manifest.lexical
        self._lexical = LexicalSpec(lex.n_buckets, lex.bigrams) if lex else None
        self._thresholds = manifest.thresholds
        # Fold the stats standardisation into the coefficients and lay the n-gram weights
        # out bucket-major, so one prompt costs two small dot products and one row gather.
        dim, n_stats = embedder.dim, len(manifest.stats)
        stats_coef = weights.dense_coef[:, dim : dim + n_stats] / weights.stats_scale
        self._emb_coef = np.ascontiguousarray(weights.dense_coef[:, :dim])
        self._stats_coef = np.ascontiguousarray(stats_coef)
        self._bias = weights.intercept - stats_coef @ weights.stats_mean
        # second-order terms need the standardised stats themselves, so no folding; they
        # are summed as a quadratic form z·Q·z per head, the same sum as products_coef @
        # stat_products(z) in fewer numpy calls (this path runs once per request)
        self._quadratic = (
            _quadratic_form(weights.dense_coef[:, dim + n_stats :], n_stats)
            if manifest.stat_products
            else None
        )
        self._inv_stats_scale = (1.0 / weights.stats_scale).astype(np.float32)
        self._lex_rows = (
            np.ascontiguousarray(weights.lexical_coef.T)
            if weights.lexical_coef is not None
            else None
        )

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> Scorer:
        directory = Path(path)
        manifest = read_manifest(directory)
        weights = read_weights(directory, manifest)
        if embedder is None:
            embedder = _load_embedder(directory, manifest)
        return cls(manifest, weights, embedder)

    @property
    def embedder(self) -> Embedder:
        """The embedder it scores with (others, e.g. the cascade verifier, may share it)."""
        return self._embedder

    @property
    def model_version(self) -> str:
        return self.manifest.model_version

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    def with_thresholds(self, thresholds: Thresholds) -> Scorer:
        """The same model with other cut-points (e.g. from the routing config)."""
        clone = Scorer(self.manifest, self._w, self._embedder)
        clone._thresholds = thresholds
        return clone

    def score(self, text: str) -> float:
        return self.score_batch([text])[0]

    def score_messages(self, messages: Sequence[Mapping[str, Any]]) -> float:
        return self.score(scored_text(messages))

    def score_batch(self, texts: Sequence[str]) -> list[float]:
        return [self._score_one(text, emb) for text, emb in self._embedded(texts)]

    def _embedded(self, texts: Sequence[str]) -> list[tuple[str, npt.NDArray[np.float32]]]:
        """The texts as scored (truncated, valid UTF-8) with their embeddings, one pass."""
        if not texts:
            return []
        cut = [valid_utf8(truncate(t, self.manifest.max_chars)) for t in texts]
        return list(zip(cut, self._embedder.embed(cut), strict=True))

    @property
    def novelty_model(self) -> NoveltyModel | None:
        return self._novelty

    def assess(self, text: str) -> Assessment:
        return self.assess_batch([text])[0]

    def assess_batch(self, texts: Sequence[str]) -> list[Assessment]:
        """Scores plus novelty, from one embedding per prompt."""
        out = []
        for text, emb in self._embedded(texts):
            score = self._score_one(text, emb)
            if self._novelty is None:
                out.append(Assessment(score))
                continue
            novelty = self._novelty.novelty(emb)
            out.append(Assessment(score, novelty, self._novelty.is_novel(novelty)))
        return out

    def tier(self, score: float) -> str:
        index = bisect.bisect_right(self._thresholds.cutpoints, score)
        return self._thresholds.tiers[index]

    def classify(self, text: str) -> ScoreResult:
        s = self.score(text)
        return ScoreResult(score=s, tier=self.tier(s))

    def head_logits_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Each head's logit per text (for a difficulty artifact: the predicted difficulty,
        what `llmtriage calibrate` fits a new model's chances on)."""
        return [self._logits(text, emb) for text, emb in self._embedded(texts)]

    def _score_one(self, text: str, embedding: npt.NDArray[np.float32]) -> float:
        return self._combine(self._logits(text, embedding))

    def _logits(self, text: str, embedding: npt.NDArray[np.float32]) -> list[float]:
        stats = prompt_stats(text)
        logits = self._emb_coef @ embedding + self._stats_coef @ stats + self._bias
        if self._quadratic is not None:
            z = (stats - self._w.stats_mean) * self._inv_stats_scale
            np.clip(z, -PRODUCT_CLIP, PRODUCT_CLIP, out=z)
            logits = logits + (self._quadratic @ z) @ z
        if self._lexical is not None and self._lex_rows is not None and self._w.idf is not None:
            ids, counts = lexical_counts(text, self._lexical)
            if ids.size:
                # tf-idf weights, L2-normalised after the dot product (one division, not n)
                weights = (1.0 + np.log(counts)) * self._w.idf[ids]
                norm = math.sqrt(float(weights @ weights))
                if norm > 0:
                    logits = logits + (weights @ self._lex_rows[ids]) / norm
        out: list[float] = logits.tolist()
        return out


def _quadratic_form(products_coef: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
    """(heads, n, n) upper-triangular Q with z·Q[h]·z = products_coef[h] @ stat_products(z)."""
    i, j = pair_indices(n)
    q = np.zeros((products_coef.shape[0], n, n), dtype=np.float32)
    q[:, i, j] = products_coef[:, : i.size]
    q[:, np.arange(n), np.arange(n)] = products_coef[:, i.size :]
    return q


def _load_embedder(directory: Path, manifest: Manifest) -> Embedder:
    ref = manifest.embedder
    loader = EMBEDDERS.get(ref.kind)
    if loader is None:
        raise ArtifactError(f"unknown embedder kind '{ref.kind}' (known: {', '.join(EMBEDDERS)})")
    return loader(directory / ref.path if ref.path else None)


def _check_embedder(manifest: Manifest, embedder: Embedder) -> None:
    ref = manifest.embedder
    if (
        embedder.kind != ref.kind
        or embedder.fingerprint != ref.fingerprint
        or embedder.dim != ref.dim
    ):
        raise EmbedderMismatch(
            f"artifact '{manifest.name}' was trained with {ref.kind} embedder "
            f"{ref.fingerprint[:12]}… (dim {ref.dim}); got {embedder.kind} "
            f"{embedder.fingerprint[:12]}… (dim {embedder.dim})"
        )
