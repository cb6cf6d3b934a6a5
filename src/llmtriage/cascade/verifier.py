"""Serving side of the trained verifier: P(the cheap answer is good | prompt, answer).

Loads the pickle-free artifact written by `python -m llmtriage_train.verifier`, checks
that the embedder is the one it was trained with (the proxy may pass the scorer's
embedder to share it), and computes the same features as training does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmtriage.cascade.artifact import (
    VerifierManifest,
    VerifierWeights,
    read_verifier_manifest,
    read_verifier_weights,
)
from llmtriage.cascade.features import answer_stats
from llmtriage.embedding import EMBEDDERS, Embedder
from llmtriage.errors import ArtifactError, EmbedderMismatch
from llmtriage.scoring.features import LexicalSpec, lexical_counts, tfidf
from llmtriage.text import truncate


class Verifier:
    def __init__(
        self, manifest: VerifierManifest, weights: VerifierWeights, embedder: Embedder
    ) -> None:
        ref = manifest.embedder
        got = (embedder.kind, embedder.fingerprint, embedder.dim)
        if got != (ref.kind, ref.fingerprint, ref.dim):
            raise EmbedderMismatch(
                f"verifier '{manifest.name}' was trained with {ref.kind} embedder "
                f"{ref.fingerprint[:12]}… (dim {ref.dim}); got {embedder.kind} "
                f"{embedder.fingerprint[:12]}… (dim {embedder.dim})"
            )
        self.manifest = manifest
        self._w = weights
        self._embedder = embedder
        self._lexical = LexicalSpec(manifest.lexical.n_buckets, manifest.lexical.bigrams)

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> Verifier:
        directory = Path(path)
        manifest = read_verifier_manifest(directory)
        weights = read_verifier_weights(directory, manifest)
        if embedder is None:
            ref = manifest.embedder
            loader = EMBEDDERS.get(ref.kind)
            if loader is None:
                raise ArtifactError(f"unknown embedder kind '{ref.kind}'")
            embedder = loader(directory / ref.path if ref.path else None)
        return cls(manifest, weights, embedder)

    def probability(self, prompt: str, answer: str) -> float:
        return self.probabilities([prompt], [answer])[0]

    def probabilities(self, prompts: Sequence[str], answers: Sequence[str]) -> list[float]:
        if len(prompts) != len(answers):
            raise ValueError(f"{len(prompts)} prompts for {len(answers)} answers")
        if not prompts:
            return []
        limit = self.manifest.max_chars
        cut_p = [truncate(p, limit) for p in prompts]
        cut_a = [truncate(a, limit) for a in answers]
        vectors = self._embedder.embed([*cut_p, *cut_a])
        n = len(cut_p)
        return [
            self._one(p, a, vectors[i], vectors[n + i])
            for i, (p, a) in enumerate(zip(cut_p, cut_a, strict=True))
        ]

    def _one(self, prompt: str, answer: str, emb_p: np.ndarray, emb_a: np.ndarray) -> float:
        w = self._w
        stats = (answer_stats(prompt, answer) - w.stats_mean) / w.stats_scale
        logit = float(w.dense_coef @ np.concatenate([emb_p, emb_a, stats]) + w.intercept[0])
        ids, counts = lexical_counts(answer, self._lexical)
        if ids.size:
            logit += float(w.lexical_coef[ids] @ tfidf(ids, counts, w.idf))
        return float(1.0 / (1.0 + np.exp(-logit)))
