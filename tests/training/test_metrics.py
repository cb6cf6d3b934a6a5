"""Routing metrics against hand-computed cases and reference implementations."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from llmtriage_train.evaluation.metrics import (
    BootstrapCI,
    RoutingMetrics,
    apgr,
    apgr_routellm,
    auc,
    bootstrap_ci,
    brier,
    cpt,
    cpt_routellm,
    evaluate_scores,
    oracle_scores,
    pgr_curve,
    quality_at,
    random_curve,
    reliability_curve,
    routellm_curve,
    routing_curves,
)

# Hand case A, four prompts, 1/0 correctness.
#   prompt          0    1    2    3
#   weak            1    0    0    0     q_weak   = 1/4
#   strong          1    1    1    0     q_strong = 3/4, gap 1/2
#   gain = s - w    0    1    1    0
#   score          .1   .9   .4   .6     -> strong order 1, 3, 2, 0 with gains 1, 0, 1, 0
# Cumulative gain at k = 0..4: 0, 1, 1, 2, 2; q(k) = 1/4 + gain/4; PGR(k) = gain / 2:
#   PGR = 0, .5, .5, 1, 1 at shares 0, .25, .5, .75, 1
# APGR = .25 * (0/2 + .5 + .5 + 1 + 1/2) = .625; CPT(50%) = .25; CPT(80%) = .75.
# Oracle order (gains 1, 1, 0, 0): PGR = 0, .5, 1, 1, 1 -> APGR = .25 * 3 = .75.
# AUC (labels strong > weak = prompts 1, 2): pairs (1,0) (1,3) (2,0) win, (2,3) loses -> 3/4.
WEAK_A = np.array([1.0, 0.0, 0.0, 0.0])
STRONG_A = np.array([1.0, 1.0, 1.0, 0.0])
SCORES_A = np.array([0.1, 0.9, 0.4, 0.6])

# Hand case B: case A with prompts 0 and 2 tied at 0.5 (gains 0 and 1, mean 0.5).
# Order: prompt 1 (gain 1), tie {0, 2} (each expected gain .5), prompt 3 (gain 0).
# Cumulative gain: 0, 1, 1.5, 2, 2 -> PGR 0, .5, .75, 1, 1; APGR = .25 * 2.75 = .6875.
# q(.5) = 1/4 + 1.5/4 = .625.
SCORES_B = np.array([0.5, 0.9, 0.5, 0.1])


def _random_case(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weak = rng.integers(0, 2, n).astype(float)
    strong = np.maximum(weak, rng.integers(0, 2, n)).astype(float)
    scores = (strong - weak) + rng.normal(0.0, 1.0, n)  # informative but noisy
    return scores, weak, strong


# ----------------------------------------------------------------------- hand cases


def test_pgr_curve_hand_case() -> None:
    shares, pgr = pgr_curve(SCORES_A, WEAK_A, STRONG_A)
    np.testing.assert_allclose(shares, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(pgr, [0, 0.5, 0.5, 1, 1])


def test_apgr_cpt_hand_case() -> None:
    assert apgr(SCORES_A, WEAK_A, STRONG_A) == pytest.approx(0.625)
    assert cpt(SCORES_A, WEAK_A, STRONG_A, 0.5) == pytest.approx(0.25)
    assert cpt(SCORES_A, WEAK_A, STRONG_A, 0.8) == pytest.approx(0.75)
    assert cpt(SCORES_A, WEAK_A, STRONG_A, 0.0) == 0.0
    assert math.isnan(cpt(SCORES_A, WEAK_A, STRONG_A, 1.5))  # never reached


def test_quality_at_hand_case() -> None:
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 0.0) == pytest.approx(0.25)
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 1.0) == pytest.approx(0.75)
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 0.5) == pytest.approx(0.5)
    # 0.375 * 4 = 1.5 rounds half up to 2 prompts; 0.3 * 4 = 1.2 rounds to 1.
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 0.375) == pytest.approx(0.5)
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 0.3) == pytest.approx(0.5)
    assert quality_at(SCORES_A, WEAK_A, STRONG_A, 0.7) == pytest.approx(0.75)


def test_ties_get_expected_quality() -> None:
    _, pgr = pgr_curve(SCORES_B, WEAK_A, STRONG_A)
    np.testing.assert_allclose(pgr, [0, 0.5, 0.75, 1, 1])
    assert apgr(SCORES_B, WEAK_A, STRONG_A) == pytest.approx(0.6875)
    assert quality_at(SCORES_B, WEAK_A, STRONG_A, 0.5) == pytest.approx(0.625)


def test_ties_do_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(3)
    scores, weak, strong = _random_case(3, n=300)
    scores = np.round(scores, 0)  # a handful of heavily tied values
    base = apgr(scores, weak, strong)
    for _ in range(5):
        perm = rng.permutation(scores.size)
        assert apgr(scores[perm], weak[perm], strong[perm]) == pytest.approx(base, abs=1e-12)


def test_oracle_hand_case() -> None:
    np.testing.assert_allclose(oracle_scores(WEAK_A, STRONG_A), [0, 1, 1, 0])
    assert apgr(oracle_scores(WEAK_A, STRONG_A), WEAK_A, STRONG_A) == pytest.approx(0.75)


def test_pgr_custom_shares_round_to_k_over_n() -> None:
    shares, pgr = pgr_curve(SCORES_A, WEAK_A, STRONG_A, shares=[0.0, 0.2, 0.6, 1.0])
    np.testing.assert_allclose(shares, [0.0, 0.2, 0.6, 1.0])
    # 0.2*4 = 0.8 -> 1 prompt (PGR .5); 0.6*4 = 2.4 -> 2 prompts (PGR .5).
    np.testing.assert_allclose(pgr, [0.0, 0.5, 0.5, 1.0])


def test_pgr_undefined_without_gap() -> None:
    with pytest.raises(ValueError, match="undefined"):
        pgr_curve([0.1, 0.2], [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="undefined"):
        evaluate_scores([0.1, 0.2], [1.0, 1.0], [1.0, 1.0])


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        apgr([0.1, 0.2, 0.3], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        apgr([0.1, float("nan")], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="share"):
        quality_at(SCORES_A, WEAK_A, STRONG_A, 1.5)


# ------------------------------------------------------------------- RouteLLM 10-bin


def test_routellm_curve_hand_case() -> None:
    # Deciles of sorted scores [.1 .4 .6 .9] at position 3p: .1, .19, .28, .37, .44, .5,
    # .56, .63, .72, .81 (score >= cutoff) and .9 (score > cutoff, nobody).
    # Strong shares: 1, .75 x3, .5 x3, .25 x3, 0, with PGR 1, 1, .5, .5, 0.
    shares, pgr = routellm_curve(SCORES_A, WEAK_A, STRONG_A)
    np.testing.assert_allclose(shares, [0, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 1])
    np.testing.assert_allclose(pgr, [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1])
    # Repeated points add no area: .25*(.25) + .25*(.5) + .25*(.75) + .25*(1) = .625.
    assert apgr_routellm(SCORES_A, WEAK_A, STRONG_A) == pytest.approx(0.625)


def test_cpt_routellm_interpolates_like_their_np_interp() -> None:
    # Target quality for 50% is 1/4 + .5 * 1/2 = .5. Quality by share: .25, .5 x6, .75 x4.
    # np.interp lands on the last .5 (share .5), not the first (.25) as the full-res CPT.
    assert cpt_routellm(SCORES_A, WEAK_A, STRONG_A, 0.5) == pytest.approx(0.5)
    # 80%: quality .65 lies between (.5, share .5) and (.75, share .75): .5 + .15/.25*.25.
    assert cpt_routellm(SCORES_A, WEAK_A, STRONG_A, 0.8) == pytest.approx(0.65)


def test_routellm_ties_all_go_strong_at_a_cutoff() -> None:
    # Constant scores: every cutoff equals the score, so >= sends everyone (share 1) and
    # the last (>) sends no one: the curve is (0, 0) -> (1, 1), APGR .5.
    const = np.zeros(4)
    shares, _ = routellm_curve(const, WEAK_A, STRONG_A)
    assert set(shares.tolist()) == {0.0, 1.0}
    assert apgr_routellm(const, WEAK_A, STRONG_A) == pytest.approx(0.5)
    assert cpt_routellm(const, WEAK_A, STRONG_A, 0.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("seed", "n"), [(0, 21), (1, 57), (2, 200), (3, 1001)])
def test_routellm_points_lie_on_full_curve_near_deciles(seed: int, n: int) -> None:
    # With distinct scores every RouteLLM point is an exact top-k split, so it must sit on
    # the full-resolution curve, at a share within one prompt of the decile grid.
    scores, weak, strong = _random_case(seed, n=n)
    shares, pgr = routellm_curve(scores, weak, strong)
    counts = np.rint(shares * n).astype(int)
    _, full = pgr_curve(scores, weak, strong)
    np.testing.assert_allclose(pgr, full[counts], atol=1e-12)
    assert np.all(np.abs(shares - np.linspace(0, 1, 11)) <= 1 / n + 1e-12)
    assert apgr_routellm(scores, weak, strong) == pytest.approx(np.trapezoid(full[counts], shares))


def test_routellm_10bin_differs_from_full_resolution() -> None:
    scores, weak, strong = _random_case(11, n=500)
    full, ten_bin = apgr(scores, weak, strong), apgr_routellm(scores, weak, strong)
    assert ten_bin != pytest.approx(full, abs=1e-6)
    assert abs(ten_bin - full) < 0.02


# -------------------------------------------------------------- baselines and bounds


def test_constant_scorer_is_exactly_random() -> None:
    _, weak, strong = _random_case(0, n=137)
    const = np.full(weak.size, 0.3)
    _, pgr = pgr_curve(const, weak, strong)
    shares, rand = random_curve(weak, strong)
    np.testing.assert_allclose(pgr, rand, atol=1e-12)
    np.testing.assert_allclose(rand, shares)
    assert apgr(const, weak, strong) == pytest.approx(0.5, abs=1e-12)


def test_random_scores_average_half() -> None:
    _, weak, strong = _random_case(1, n=200)
    rng = np.random.default_rng(123)
    values = [apgr(rng.random(weak.size), weak, strong) for _ in range(300)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.01)
    assert np.std(values) > 0.005  # the scorer really was random, not constant


@pytest.mark.parametrize("seed", range(10))
def test_oracle_bounds_any_scorer(seed: int) -> None:
    scores, weak, strong = _random_case(seed)
    oracle = oracle_scores(weak, strong)
    _, best = pgr_curve(oracle, weak, strong)
    for candidate in (scores, -scores, np.zeros_like(scores), np.round(scores)):
        _, pgr = pgr_curve(candidate, weak, strong)
        assert np.all(pgr <= best + 1e-12)
        assert apgr(candidate, weak, strong) <= apgr(oracle, weak, strong) + 1e-12


def test_inverse_oracle_is_below_random() -> None:
    scores, weak, strong = _random_case(5)
    inverse = -oracle_scores(weak, strong)
    assert apgr(inverse, weak, strong) < 0.5
    assert apgr(-scores, weak, strong) < 0.5 < apgr(scores, weak, strong)


@pytest.mark.parametrize("seed", range(5))
def test_cpt_monotone_in_target(seed: int) -> None:
    scores, weak, strong = _random_case(seed)
    targets = np.linspace(0.0, 1.0, 41)
    values = [cpt(scores, weak, strong, float(t)) for t in targets]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[0] == 0.0 and values[-1] <= 1.0


def test_evaluate_scores_hand_case() -> None:
    m = evaluate_scores(SCORES_A, WEAK_A, STRONG_A)
    expected = RoutingMetrics(
        n=4,
        q_weak=0.25,
        q_strong=0.75,
        apgr=0.625,
        apgr_10bin=0.625,
        cpt50=0.25,
        cpt80=0.75,
        cpt50_10bin=0.5,
        cpt80_10bin=0.65,
        auc=0.75,
        oracle_apgr=0.75,
    )
    got, want = m.to_dict(), expected.to_dict()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key
    assert m.random_apgr == 0.5
    field = "apgr"  # a variable, so type checkers let the frozen write through to runtime
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(m, field, 1.0)


def test_routing_curves_shapes() -> None:
    curves = routing_curves(SCORES_A, WEAK_A, STRONG_A)
    assert curves.shares.shape == curves.pgr.shape == curves.oracle_pgr.shape == (5,)
    assert curves.shares_10bin.shape == curves.pgr_10bin.shape == (11,)
    np.testing.assert_allclose(curves.oracle_pgr, [0, 0.5, 1, 1, 1])


# ----------------------------------------------------------- AUC and calibration


def test_auc_hand_case_and_ties() -> None:
    assert auc(SCORES_A, STRONG_A > WEAK_A) == pytest.approx(0.75)
    # One positive tied with one negative counts half: (1 + .5) / 2.
    assert auc([0.9, 0.5, 0.5], [True, True, False]) == pytest.approx(0.75)
    assert math.isnan(auc([0.1, 0.2], [True, True]))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(300) < 0.3
    scores = np.round(labels * 0.5 + rng.normal(0, 1, 300), 1)  # rounding forces ties
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_brier_hand_case() -> None:
    # (.9-1)^2 + (.2-0)^2 + (.5-1)^2 + (1-1)^2 = .01 + .04 + .25 + 0 = .30, / 4 = .075
    assert brier([0.9, 0.2, 0.5, 1.0], [1, 0, 1, 1]) == pytest.approx(0.075)
    assert brier([1.0, 0.0], [1, 0]) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier([1.2], [1])


def test_reliability_curve_hand_case() -> None:
    probs, labels = [0.9, 0.2, 0.5, 1.0], [1, 0, 1, 1]
    mean_pred, frac_pos, counts = reliability_curve(probs, labels, bins=2)
    # bin [0, .5): {.2 -> 0}; bin [.5, 1]: {.9, .5, 1.0 -> 1, 1, 1}
    np.testing.assert_allclose(mean_pred, [0.2, 0.8])
    np.testing.assert_allclose(frac_pos, [0.0, 1.0])
    np.testing.assert_array_equal(counts, [1, 3])

    mean_pred, frac_pos, counts = reliability_curve(probs, labels, bins=4)
    # .2 -> bin 0, .5 -> bin 2, .9 and 1.0 -> bin 3; bin 1 empty
    np.testing.assert_array_equal(counts, [1, 0, 1, 2])
    assert math.isnan(mean_pred[1]) and math.isnan(frac_pos[1])
    np.testing.assert_allclose(mean_pred[[0, 2, 3]], [0.2, 0.5, 0.95])
    np.testing.assert_allclose(frac_pos[[0, 2, 3]], [0.0, 1.0, 1.0])


# ----------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_covers_mean_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, 400)
    ci = bootstrap_ci(lambda a: float(np.mean(a)), x, n_boot=500, seed=1)
    assert isinstance(ci, BootstrapCI)
    assert ci.low < ci.estimate < ci.high
    assert ci.low < 2.0 < ci.high
    # Standard error is 1/sqrt(400) = .05, so the 95% interval is about .2 wide.
    assert 0.12 < ci.high - ci.low < 0.28
    assert bootstrap_ci(lambda a: float(np.mean(a)), x, n_boot=500, seed=1) == ci


def test_bootstrap_resamples_rows_jointly() -> None:
    # If rows were resampled independently per array, a - b would not stay 0.
    a = np.arange(50, dtype=float)
    ci = bootstrap_ci(lambda u, v: float(np.mean(u - v)), a, a.copy(), n_boot=200)
    assert ci == BootstrapCI(0.0, 0.0, 0.0)


def test_bootstrap_apgr_skips_undefined_resamples() -> None:
    # Only one prompt carries the gap; resamples that miss it make PGR undefined.
    weak = np.zeros(6)
    strong = np.array([1.0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.5])
    ci = bootstrap_ci(apgr, scores, weak, strong, n_boot=200)
    assert ci.estimate == pytest.approx(apgr(scores, weak, strong))
    assert math.isfinite(ci.low) and ci.low <= ci.high
