"""Verifier training: examples from the loaders, fit → artifact → served probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmtriage.cascade.verifier import Verifier
from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage_train.evaluation import metrics
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.verifier.train import (
    Examples,
    escalation_curve,
    evaluate,
    fit_verifier,
    load_examples,
    out_of_fold,
    raw_pairs,
    save_verifier,
)

MIRROR = Path(__file__).resolve().parents[1] / "fixtures" / "mirror"
BUCKETS = 256


def synthetic(n: int = 60) -> Examples:
    """Good answers do the sum right, bad ones get it wrong and hedge."""
    prompts, answers, labels = [], [], []
    for i in range(n):
        a, b = i + 2, 3 * i + 1
        good = i % 2 == 0
        result = a + b if good else a + b + 7
        hedge = "" if good else " I'm not sure."
        prompts.append(f"Ann has {a} pens and gets {b} more. How many pens?")
        answers.append(f"{a} + {b} = {result}.{hedge}\n#### {result}")
        labels.append(float(good))
    y = np.array(labels)
    split = ["test" if i % 5 == 0 else "train" for i in range(n)]
    return Examples(
        prompts, answers, y, y, ["gsm8k"] * n, ["cheap"] * n, split, [f"k{i}" for i in range(n)]
    )


def test_load_examples_from_the_fixture_mirror() -> None:
    ex = load_examples(MIRROR)
    gsm = ex.where(source="gsm8k")
    mt = ex.where(source="mt_bench")
    assert gsm.size == 3 and all(ex.model[i].startswith("mistralai/") for i in gsm)
    assert set(ex.label[gsm]) <= {0.0, 1.0}
    # MT-Bench: soft label (score - 1) / 9 and a turn-2 row prompts with the turn-2 question
    assert all(0.0 <= ex.label[i] <= 1.0 for i in mt)
    assert all((ex.label[i] >= 7 / 9) == (ex.good[i] == 1.0) for i in mt)
    turn2 = [i for i in mt if ex.key[i].endswith(":2")]
    assert turn2 and all(
        ex.prompts[i] != ex.prompts[j] for i in turn2 for j in mt if j not in turn2
    )


def test_fit_save_load_serves_the_trained_probabilities(tmp_path: Path) -> None:
    ex = synthetic()
    embedder = HashingEmbedder(32)
    raw = raw_pairs(ex, EmbeddingCache(embedder, tmp_path / "cache"), n_buckets=BUCKETS)
    train = ex.where(split="train")
    model = fit_verifier(raw.rows(train), ex.label[train], c=1.0)
    save_verifier(
        tmp_path / "v", model, embedder, None, training_data=[], metrics_={}, n_buckets=BUCKETS
    )
    served = Verifier.load(tmp_path / "v", embedder=embedder)
    test = ex.where(split="test")
    expected = model.probs(raw.rows(test))
    got = served.probabilities([ex.prompts[i] for i in test], [ex.answers[i] for i in test])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert metrics.auc(np.asarray(got), ex.good[test]) > 0.9  # it learnt the wrong sums


def test_out_of_fold_never_scores_a_row_with_its_own_model(tmp_path: Path) -> None:
    ex = synthetic(40)
    raw = raw_pairs(ex, EmbeddingCache(HashingEmbedder(32), tmp_path), n_buckets=BUCKETS)
    in_sample = fit_verifier(raw, ex.label, c=10.0).probs(raw)
    oof = out_of_fold(raw, ex.label, ex.prompts, c=10.0)
    assert oof.shape == (40,) and np.all((oof > 0) & (oof < 1))
    assert not np.allclose(oof, in_sample, atol=1e-3)


def test_escalation_curve_by_hand() -> None:
    p_good = np.array([0.9, 0.1, 0.5, 0.7])
    weak, strong = np.array([1.0, 0.0, 0.0, 1.0]), np.ones(4)
    curve = escalation_curve(p_good, weak, strong, shares=(0.0, 0.25, 0.5, 1.0))
    # least confident first: row 1, then row 2
    assert curve == [(0.0, 0.5), (0.25, 0.75), (0.5, 1.0), (1.0, 1.0)]


def test_evaluate_reports_auc_per_source() -> None:
    ex = synthetic(10)
    perfect = ex.good.copy()
    out = evaluate(ex, perfect)
    assert out["gsm8k"]["auc"] == 1.0 and out["gsm8k"]["n"] == 10


@pytest.mark.slow
def test_train_on_a_real_subset(tmp_path: Path) -> None:
    from llmtriage_train.data.datasets import DataError, data_root
    from llmtriage_train.features.distill import DEFAULT_DIR, ensure_static_embedder
    from llmtriage_train.verifier.train import train

    if not (DEFAULT_DIR / "model.safetensors").is_file():
        pytest.skip("static embedder not built (make train)")
    try:
        ex = load_examples(data_root())
    except DataError:
        pytest.skip("benchmark data not materialised (make data)")
    rng = np.random.default_rng(0)
    ex = ex.rows(np.sort(rng.choice(len(ex), size=400, replace=False)))
    embedder = ensure_static_embedder()
    summary = train(ex, embedder, None, tmp_path / "v", cache=EmbeddingCache(embedder, tmp_path))
    assert summary["held_out"]["gsm8k"]["auc"] > 0.55
    verifier = Verifier.load(tmp_path / "v", embedder=embedder)
    assert 0.0 < verifier.probability(ex.prompts[0], ex.answers[0]) < 1.0
