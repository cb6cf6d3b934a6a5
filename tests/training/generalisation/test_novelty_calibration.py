"""Novelty flags about `rate` of new in-distribution prompts, and far more of prompts
from elsewhere."""

from __future__ import annotations

import numpy as np

from llmtriage.embedding.base import l2_normalise
from llmtriage_train.generalisation.novelty_fit import fit_novelty


def _clusters(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    pick = rng.integers(0, len(centres), n)
    return l2_normalise(centres[pick] + rng.normal(0, 0.35, (n, centres.shape[1])))


def test_rate_on_held_out_in_distribution_prompts_within_two_points() -> None:
    rng = np.random.default_rng(0)
    dim = 32
    centres = rng.normal(0, 1, (12, dim))
    train, calib, check = (_clusters(rng, centres, n) for n in (4000, 2000, 4000))
    model = fit_novelty(train, calib, rate=0.05, k=24)
    observed = float(np.mean(model.novelty_batch(check) > model.threshold))
    assert abs(observed - 0.05) <= 0.02
    far = _clusters(rng, rng.normal(0, 1, (6, dim)), 2000)
    assert float(np.mean(model.novelty_batch(far) > model.threshold)) > 0.5


def test_single_prompt_matches_batch() -> None:
    rng = np.random.default_rng(1)
    x = l2_normalise(rng.normal(0, 1, (300, 8)))
    model = fit_novelty(x[:200], x[200:], k=8)
    assert abs(model.novelty(x[5]) - model.novelty_batch(x[5:6])[0]) < 1e-6
