"""The Rasch fit recovers item difficulties it generated, and links sources through
shared items."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from llmtriage_train.generalisation.difficulty import fit_rasch, mean_difficulty, rasch_difficulty


def _simulate(n_items: int, n_models: int, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0, 1.5, n_items)
    theta = rng.normal(0.0, 1.0, n_models)
    items = np.repeat(np.arange(n_items), n_models)
    models = np.tile(np.arange(n_models), n_items)
    p = 1.0 / (1.0 + np.exp(-(theta[models] - b[items])))
    y = (rng.random(p.size) < p).astype(np.float64)
    return b, theta, items, models, y


def test_recovers_known_difficulties_and_abilities() -> None:
    b, theta, items, models, y = _simulate(2000, 30, seed=1)
    fit = fit_rasch(items, models, y, n_items=2000, n_models=30, prior=0.1)
    assert fit.converged
    assert pearsonr(fit.item_difficulty, b)[0] > 0.9
    assert pearsonr(fit.ability, theta)[0] > 0.95
    # the location is fixed only up to the prior's pull; differences are identified
    err = (fit.item_difficulty - fit.item_difficulty.mean()) - (b - b.mean())
    assert float(np.sqrt(np.mean(err**2))) < 0.6


def test_soft_outcomes_count_as_fractions() -> None:
    items, models = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    soft = fit_rasch(items, models, np.array([0.9, 0.8, 0.2, 0.1]), n_items=2, n_models=2)
    assert soft.item_difficulty[1] > soft.item_difficulty[0]


def test_shared_questions_share_one_difficulty_across_sources() -> None:
    keys = ["q1", "q2", "q1", "q3"]
    sources = ["a", "a", "b", "b"]
    quality = {
        "a": np.array([[1.0, 1.0], [0.0, 0.0]]),
        "b": np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
    }
    models = {"a": ["m1", "m2"], "b": ["n1", "n2", "n3"]}
    d = rasch_difficulty(keys, sources, quality, np.array([0, 1, 0, 1]), models)
    assert d[0] == d[2]  # same question, one value
    assert d[1] > d[0]  # all fail q2; q1 mostly passed
    assert spearmanr(d, 1 - np.array([1.0, 0.0, 2 / 3, 1 / 3]))[0] > 0.7


def test_mean_difficulty() -> None:
    assert mean_difficulty(np.array([[1.0, 0.0], [0.0, 0.0]])).tolist() == [0.5, 1.0]
