"""The routing metrics against scientific libraries on random data.

AUC and the Brier score are scikit-learn's; these tests pin that down and check them
against independent formulas (scipy's ranks, Mann-Whitney U). APGR and CPT have no
library implementation, so they are checked against identities that tie them to
scikit-learn's AUC and against direct enumeration.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu, rankdata
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from llmtriage_train.evaluation import metrics

F64 = npt.NDArray[np.float64]
SEEDS = range(8)


def _scores_and_labels(seed: int, n: int, *, ties: bool) -> tuple[F64, npt.NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    if ties:  # few distinct values, so many ties at every cut
        scores = np.round(scores, 1)
    labels = rng.random(n) < rng.uniform(0.1, 0.9)
    labels[:2] = [True, False]  # both classes
    return scores, labels


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_auc_is_sklearn_and_the_mann_whitney_rank_sum(seed: int, ties: bool) -> None:
    scores, labels = _scores_and_labels(seed, 300, ties=ties)
    got = metrics.auc(scores, labels)
    assert got == roc_auc_score(labels, scores)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    rank_sum = rankdata(scores)[labels].sum()  # ties get their mean rank
    assert got == pytest.approx((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), abs=1e-12)
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert got == pytest.approx(u / (n_pos * n_neg), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-3, 3), st.booleans()),  # small integers: many ties
        min_size=2,
        max_size=40,
    )
)
def test_auc_matches_sklearn_on_any_input(rows: list[tuple[int, bool]]) -> None:
    scores = np.array([float(s) for s, _ in rows])
    labels = np.array([y for _, y in rows])
    got = metrics.auc(scores, labels)
    if labels.all() or not labels.any():
        assert math.isnan(got)  # undefined; scikit-learn would warn
    else:
        assert got == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_is_sklearn_and_the_mean_squared_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.random(200)
    labels = (rng.random(200) < probs).astype(np.float64)
    got = metrics.brier(probs, labels)
    assert got == brier_score_loss(labels, probs)
    assert got == pytest.approx(float(np.mean((probs - labels) ** 2)), abs=1e-15)
    # one class only is still defined
    ones = np.ones(200)
    assert metrics.brier(probs, ones) == pytest.approx(float(np.mean((probs - 1) ** 2)))


@pytest.mark.parametrize("seed", SEEDS)
def test_reliability_curve_agrees_with_sklearn_calibration_curve(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.beta(2, 3, size=500)
    labels = (rng.random(500) < probs).astype(np.float64)
    mean_pred, frac_pos, counts = metrics.reliability_curve(probs, labels, bins=10)
    prob_true, prob_pred = calibration_curve(labels, probs, n_bins=10, strategy="uniform")
    filled = counts > 0  # scikit-learn drops empty bins; ours keeps them as NaN
    np.testing.assert_allclose(mean_pred[filled], prob_pred, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frac_pos[filled], prob_true, rtol=0, atol=1e-12)
    assert counts.sum() == probs.size


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_apgr_of_binary_gains_is_a_function_of_sklearn_auc(seed: int, ties: bool) -> None:
    # weak always 0, strong 0/1: PGR(c) is the recall of the top share c, so the area
    # under it is pi/2 + (1 - pi) AUC with pi the share of rows strong gets right
    scores, labels = _scores_and_labels(seed, 300, ties=ties)
    weak, strong = np.zeros(labels.size), labels.astype(np.float64)
    pi = strong.mean()
    expected = pi / 2 + (1 - pi) * roc_auc_score(labels, scores)
    assert metrics.apgr(scores, weak, strong) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_pgr_and_cpt_by_direct_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    scores = rng.normal(size=n)  # distinct: no tie averaging
    weak, strong = rng.random(n), rng.random(n) + 0.2
    order = np.argsort(-scores)
    q_weak, q_strong = weak.mean(), strong.mean()
    pgr = []
    for k in range(n + 1):
        routed = weak.copy()
        routed[order[:k]] = strong[order[:k]]
        pgr.append((routed.mean() - q_weak) / (q_strong - q_weak))
    shares, got = metrics.pgr_curve(scores, weak, strong)
    np.testing.assert_allclose(got, pgr, rtol=0, atol=1e-12)
    assert metrics.apgr(scores, weak, strong) == pytest.approx(np.trapezoid(pgr, shares))
    for target in (0.5, 0.8):
        first = next(k for k, v in enumerate(pgr) if v >= target - 1e-12)
        assert metrics.cpt(scores, weak, strong, target) == pytest.approx(first / n)
