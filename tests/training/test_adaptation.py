"""Adaptation (training/adaptation): the prior ridge solves what it says, the served
design reproduces the artifact's logits, and adapting moves a base toward new labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_manifest, read_weights
from llmtriage.scoring.manifest import Manifest, Thresholds
from llmtriage_train.adaptation.adapt import Column, adapt, difficulty_of
from llmtriage_train.adaptation.artifact import raw_features, same_shares
from llmtriage_train.adaptation.curve import base_calibration, sample_rows, score_difficulty
from llmtriage_train.adaptation.prior import prior_ridge
from llmtriage_train.adaptation.select import GRID, adapt_by_routing_cv, routing_cv
from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.generalisation.loto import build_bank, evaluate_rows, fit
from llmtriage_train.generalisation.recipe import DEFAULT
from llmtriage_train.model.export import weights_from
from tests.training.generalisation.test_default_model_artifact import _table


def _primal(x: np.ndarray, y: np.ndarray, w0: np.ndarray, lam: float, d: np.ndarray) -> np.ndarray:
    """argmin ||y − Xw − b||² + λ||D(w − w0)||² by the centred normal equations."""
    xc, yc = x - x.mean(axis=0), y - y.mean()
    a = xc.T @ xc + lam * np.diag(d**2)
    return np.linalg.solve(a, xc.T @ yc + lam * np.diag(d**2) @ w0)


def test_prior_ridge_is_the_primal_solution_and_tends_to_the_prior() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 7))
    y = x @ rng.normal(size=7) + 0.1 * rng.normal(size=40) + 2.0
    w0 = rng.normal(size=7)
    d = rng.uniform(0.5, 2.0, size=7)
    groups = [str(i) for i in range(40)]
    for lam in (0.1, 3.0, 100.0):
        got = prior_ridge(sp.csr_matrix(x), y, w0, 0.0, groups=groups, scale=d, lam=lam)
        np.testing.assert_allclose(got.coef, _primal(x, y, w0, lam, d), rtol=1e-6, atol=1e-8)
        resid = y - x @ got.coef - got.intercept
        assert abs(resid.mean()) < 1e-8  # the intercept is free
    strong = prior_ridge(sp.csr_matrix(x), y, w0, 0.0, groups=groups, lam=1e9)
    np.testing.assert_allclose(strong.coef, w0, atol=1e-5)


def test_inner_cv_picks_a_weak_prior_for_a_wrong_base_and_a_strong_one_for_a_right_base() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(size=10)
    x = rng.normal(size=(60, 10))
    y = x @ true + 0.3 * rng.normal(size=60)
    groups = [str(i) for i in range(60)]
    wrong = prior_ridge(sp.csr_matrix(x), y, -true, 0.0, groups=groups)
    right = prior_ridge(sp.csr_matrix(x), y, true, 0.0, groups=groups)
    assert wrong.lam < right.lam
    assert set(wrong.cv_mse) == set(right.cv_mse) and len(wrong.cv_mse) > 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A difficulty base trained on the synthetic table, with its bank."""
    from llmtriage_train.generalisation.default_model import train_default

    out = tmp_path_factory.mktemp("base")
    table, truth = _table()
    embedder = HashingEmbedder()
    pairs = {"routellm": (WEAK, STRONG)}
    train_default(table, embedder, None, out, fixed_pairs=pairs, loto=False, jobs=1)
    bank = build_bank(table, EmbeddingCache(embedder, out / "cache"), pairs, strip_variants=(True,))
    return out, table, truth, bank


def test_design_reproduces_the_served_logits(trained) -> None:  # type: ignore[no-untyped-def]
    out, table, _, _ = trained
    scorer = Scorer.load(out, embedder=HashingEmbedder())
    prompts = table.prompts[:50]
    served = np.array([x[0] for x in scorer.head_logits_batch(prompts)])
    ours = difficulty_of(read_weights(out, scorer.manifest), raw_features(prompts, scorer))
    np.testing.assert_allclose(ours, served, atol=1e-4)


def test_curve_scores_the_base_as_make_generalisation_does(trained) -> None:  # type: ignore[no-untyped-def]
    _, table, _, bank = trained
    train = np.flatnonzero(np.asarray(table.task) != "task0")
    test = np.flatnonzero(np.asarray(table.task) == "task0")
    fitted = fit(bank, train, DEFAULT)
    weights = weights_from(fitted.heads, fitted.scaling, bank.raw[True].embeddings.shape[1])
    d = difficulty_of(weights, bank.raw[True].rows(test))
    ours = score_difficulty(bank, test, d, base_calibration(bank, fitted))
    theirs = evaluate_rows(bank, test, fitted)
    assert set(ours) == set(theirs)
    for s in ours:
        assert ours[s].apgr_extreme_pair == pytest.approx(theirs[s].apgr_extreme_pair, abs=2e-3)
        assert ours[s].apgr_mean_pairs == pytest.approx(theirs[s].apgr_mean_pairs, abs=2e-3)


def test_sample_rows_caps_at_half_and_covers_every_source(trained) -> None:  # type: ignore[no-untyped-def]
    _, table, _, bank = trained
    rows = np.flatnonzero(np.asarray(table.task) == "task1")
    picked = sample_rows(bank, rows, 10_000, seed=0)
    assert rows.size // 2 - 2 <= picked.size <= rows.size // 2 and set(picked) <= set(rows)
    small = sample_rows(bank, rows, 20, seed=3)
    assert small.size == 20 and set(np.asarray(table.source)[small]) == set(table.source)
    np.testing.assert_array_equal(small, sample_rows(bank, rows, 20, seed=3))


def test_adapting_moves_the_base_toward_labels_it_contradicts(trained) -> None:  # type: ignore[no-untyped-def]
    """Labels whose difficulty runs against the base's: the adapted head follows them."""
    out, _, truth, bank = trained
    scorer = Scorer.load(out, embedder=HashingEmbedder())
    weights = read_weights(out, scorer.manifest)
    rows = np.arange(300)
    raw = bank.raw[True].rows(rows)
    target = 3.0 * (truth[rows] - 0.5) * -1.0  # easy is now hard
    cal = {k: (c.slope, c.intercept) for k, c in scorer.manifest.label.calibration.items()}
    q = (target > 0).astype(float)  # one model that fails the (new) hard half
    a = adapt(
        weights, cal, raw, target, [Column("new", rows, 1.0 - q)], groups=list(map(str, rows))
    )
    held = bank.raw[True].rows(np.arange(300, 800))
    new_truth = -truth[300:800]
    base_r = np.corrcoef(difficulty_of(weights, held), new_truth)[0, 1]
    adapted_r = np.corrcoef(difficulty_of(a.weights, held), new_truth)[0, 1]
    assert base_r < 0 < adapted_r
    assert a.fit.lam < 1e5 and "new" in a.calibration
    slope, _ = a.calibration["new"]
    assert slope > 0  # the new model fails the prompts the adapted head calls hard


def test_same_shares_keeps_the_share_per_tier() -> None:
    rng = np.random.default_rng(2)
    before, after = rng.uniform(size=500), rng.uniform(0.3, 0.9, size=500)
    base = Thresholds(tiers=["weak", "strong"], cutpoints=[0.7])
    got = same_shares(base, before, after, "a vs b")
    assert np.mean(after >= got.cutpoints[0]) == pytest.approx(np.mean(before >= 0.7), abs=0.01)


def test_old_manifests_without_lineage_still_load(trained) -> None:  # type: ignore[no-untyped-def]
    out = trained[0]
    raw = json.loads((out / "manifest.json").read_text())
    assert "lineage" in raw and raw["lineage"] is None  # written by this version, as null
    raw.pop("lineage")  # what an artifact written before the field looks like
    assert Manifest.model_validate(raw).lineage is None
    assert read_manifest(out).lineage is None


def test_routing_cv_scores_every_prior_strength_and_calibration_only(trained) -> None:  # type: ignore[no-untyped-def]
    out, _, truth, bank = trained
    scorer = Scorer.load(out, embedder=HashingEmbedder())
    weights = read_weights(out, scorer.manifest)
    cal = {k: (c.slope, c.intercept) for k, c in scorer.manifest.label.calibration.items()}
    rows = np.arange(200)
    raw = bank.raw[True].rows(rows)
    rng = np.random.default_rng(4)
    hard = truth[rows] < 0.5  # the base's easy prompts are this traffic's hard ones
    cols = [
        Column(name, rows, (rng.random(rows.size) < np.where(hard, lo, hi)).astype(float))
        for name, lo, hi in (("a", 0.1, 0.6), ("b", 0.3, 0.95))
    ]
    target = np.where(hard, 1.0, -1.0)
    keys = list(map(str, rows))
    cv = routing_cv(weights, cal, raw, target, cols, keys)
    assert list(cv) == list(GRID) and all(0.0 <= v <= 1.5 for v in cv.values())
    chosen = adapt_by_routing_cv(weights, cal, raw, target, cols, keys)
    assert chosen.cv_apgr == cv
    assert chosen.fit.lam == max(cv, key=lambda k: (cv[k], k))
    kept = adapt(weights, cal, raw, target, cols, groups=keys, refit_head=False)
    np.testing.assert_allclose(kept.weights.dense_coef, weights.dense_coef)  # head kept
    assert {"a", "b"} <= set(kept.calibration) and {"a", "b"} <= set(chosen.refitted)
