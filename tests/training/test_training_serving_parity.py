"""The exported artifact scores a prompt exactly as the training matrices did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring import Scorer
from llmtriage.scoring.features import LexicalSpec
from llmtriage.scoring.manifest import Thresholds
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.features.featurize import Scaling, raw_features
from llmtriage_train.model.export import export_artifact
from llmtriage_train.model.fit import LinearHeads, combine

PROMPTS = [
    "What is 2 + 2?",
    "Janet has 3 apples and buys 12 more at $0.50 each. What did she spend?",
    "Write a haiku about the sea.",
    "def f(x):\n    return x * 2\n# what does f(21) return?",
    "Summarise the causes of the First World War in three paragraphs, citing dates.",
    "",
]


@pytest.mark.parametrize("products", [False, True])
def test_artifact_scores_match_training_matrices(tmp_path: Path, products: bool) -> None:
    embedder = HashingEmbedder()
    spec = LexicalSpec(n_buckets=512)
    raw = raw_features(PROMPTS, EmbeddingCache(embedder), spec, max_chars=8000)
    scaling = Scaling.fit(raw, (1.0, 0.7, 1.3), stat_products=products)
    x = scaling.matrix(raw)
    rng = np.random.default_rng(0)
    heads = LinearHeads(rng.normal(scale=0.5, size=(2, x.shape[1])), np.array([0.2, -0.1]))
    expected = combine("gain", heads.probs(x))

    export_artifact(
        tmp_path,
        name="parity",
        heads=heads,
        scaling=scaling,
        lexical=spec,
        embedder=embedder,
        embedder_dir=None,
        label="gain",
        weak_model="w",
        strong_model="s",
        thresholds=Thresholds(tiers=["weak", "strong"], cutpoints=[0.5]),
        training_data=[],
        max_chars=8000,
        hyperparameters={},
        metrics={},
    )
    scorer = Scorer.load(tmp_path, embedder=embedder)
    assert scorer.manifest.stat_products is products
    served = np.array(scorer.score_batch(PROMPTS))
    np.testing.assert_allclose(served, expected, atol=1e-5)
