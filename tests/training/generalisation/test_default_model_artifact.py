"""`make train`'s difficulty scorer: the artifact serves exactly what training computed
(pair-calibrated score and novelty), and its score follows the learnt difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring import Scorer
from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.generalisation.default_model import pair_scores, train_default
from llmtriage_train.generalisation.loto import build_bank, fit
from llmtriage_train.generalisation.recipe import DEFAULT
from llmtriage_train.generalisation.tasks import SourceRows, stack

WORDS = ["apple", "river", "stone", "cloud", "seven", "theorem", "bridge", "market", "signal"]


def _prompts(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """Prompts whose difficulty grows with their number of quantities."""
    prompts, hardness = [], []
    for i in range(n):
        k = int(rng.integers(0, 8))
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 12))))
        numbers = " ".join(str(int(x)) for x in rng.integers(10, 999, size=k))
        prompts.append(f"Q{i}: {words} {numbers}?")
        hardness.append(k / 7.0)
    return prompts, np.array(hardness)


def _table(seed: int = 0):  # type: ignore[no-untyped-def]
    """Two sources whose models all find prompts with more quantities harder; returns the
    table and each row's true hardness."""
    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for source, models, ability in (
        ("routellm", [WEAK, STRONG], [0.3, 0.8]),
        ("routerdc", ["m1", "m2", "m3"], [0.2, 0.5, 0.9]),
    ):
        prompts, hard = _prompts(rng, 400)
        truth.append(hard)
        p = np.clip(np.array(ability)[None, :] + 0.6 - 1.2 * hard[:, None], 0, 1)
        quality = (rng.random(p.shape) < p).astype(np.float64)
        tasks = [f"task{i % 3}" for i in range(len(prompts))]
        parts.append(SourceRows(source, models, prompts, quality, tasks, [None] * len(prompts)))
    return stack(parts), np.concatenate(truth)


def test_artifact_serves_the_training_scores_and_novelty(tmp_path: Path) -> None:
    table, _ = _table()
    embedder = HashingEmbedder()
    pairs = {"routellm": (WEAK, STRONG)}
    result = train_default(table, embedder, None, tmp_path, fixed_pairs=pairs, loto=False, jobs=1)
    scorer = Scorer.load(tmp_path, embedder=embedder)
    assert scorer.manifest.label.kind == "difficulty"
    assert scorer.manifest.label.weak_model == WEAK and scorer.model_version == result.model_version
    assert scorer.novelty_model is not None

    cache = EmbeddingCache(embedder, tmp_path / "cache")
    bank = build_bank(table, cache, pairs, strip_variants=(True,))
    fitted = fit(bank, np.flatnonzero(np.asarray(table.split) == "train"), DEFAULT)
    rows = table.rows(source="routellm")
    expected = pair_scores(fitted, bank, rows, "routellm", 0, 1)
    served = scorer.assess_batch([table.prompts[i] for i in rows])
    np.testing.assert_allclose([a.score for a in served], expected, atol=1e-5)
    novelty = scorer.novelty_model.novelty_batch(bank.raw[True].embeddings[rows])
    np.testing.assert_allclose([a.novelty for a in served], novelty, atol=1e-5)


def test_predicted_difficulty_tracks_the_true_one(tmp_path: Path) -> None:
    table, truth = _table(seed=1)
    embedder = HashingEmbedder()
    cache = EmbeddingCache(embedder, tmp_path)
    bank = build_bank(table, cache, {"routellm": (WEAK, STRONG)}, strip_variants=(True,))
    rows = np.arange(len(table))
    fitted = fit(bank, rows, DEFAULT)
    assert np.corrcoef(fitted.difficulty(bank, rows), truth)[0, 1] > 0.5
    # calibration: every model is likelier to answer the easier prompts
    assert all(slope > 0 for cal in fitted.calibration.values() for slope, _ in cal)
