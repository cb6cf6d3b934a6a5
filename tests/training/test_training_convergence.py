"""The exported model and the leave-one-out fits are converged; model selection may stop early."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage_train.data.routing_sets import RoutingSet
from llmtriage_train.model import pipeline
from llmtriage_train.model.crossval import FIT_TOL, TOL, Candidate, fit_candidate


def _problem(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, list[str]]:
    # dense, mildly informative features: where lbfgs at a loose tolerance stops short
    rng = np.random.default_rng(seed)
    n, d = 3000, 300
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d) * 2 / np.sqrt(d)
    strong = (rng.random(n) < 1 / (1 + np.exp(-(x @ w) - 1.5))).astype(float)
    weak = (rng.random(n) < 1 / (1 + np.exp(-(x @ w) * 0.5))).astype(float)
    return sp.csr_matrix(x), weak, strong, ["a"] * 2000 + ["b"] * 1000


def test_fit_tolerance_reaches_the_optimum_that_selection_tolerance_misses() -> None:
    x, weak, strong, groups = _problem()
    cand = Candidate("gain", 0.1, 0.5)
    optimum = fit_candidate(x, weak, strong, groups, cand, tol=1e-9).probs(x)
    final = fit_candidate(x, weak, strong, groups, cand, tol=FIT_TOL).probs(x)
    selection = fit_candidate(x, weak, strong, groups, cand, tol=TOL).probs(x)
    assert np.abs(final - optimum).max() < 1e-3
    assert np.abs(selection - optimum).max() > 1e-2  # why the exported fit needs FIT_TOL


def test_train_fits_the_artifact_and_leave_one_out_at_the_fit_tolerance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    real = pipeline.fit_candidate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["tol"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "fit_candidate", spy)  # the final and LOBO fits only
    rng = np.random.default_rng(0)
    sets = []
    for name in ("x", "y"):
        hard = rng.random(200) < 0.5
        prompts = [f"{name} {'hard' if h else 'easy'} question {i}" for i, h in enumerate(hard)]
        split = ["test" if i % 4 == 0 else "train" for i in range(hard.size)]
        ones = np.ones(hard.size)
        sets.append(RoutingSet(name, prompts, np.where(hard, 0.0, 1.0), ones, split, "w", "s"))
    opts = pipeline.TrainOptions(
        out=tmp_path / "m", candidates=(Candidate("gain", 1.0),), jobs=1, lobo=True
    )
    summary = pipeline.train(sets, HashingEmbedder(), None, opts)
    assert seen == [FIT_TOL] * 3  # the exported model, then one fit per benchmark left out
    assert summary.left_out.keys() == {"x", "y"}
