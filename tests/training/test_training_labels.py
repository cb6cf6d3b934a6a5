"""What the scorer learns versus what it is evaluated on: price tiers, per-benchmark
offsets, and the pipeline keeping the two label sets apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage_train.data.outcomes import Outcomes
from llmtriage_train.data.routing_sets import (
    SEEN,
    RoutingSet,
    Target,
    benchmark_set,
    mark_seen_test_rows,
    price_tiers,
    tier_target,
)
from llmtriage_train.model.crossval import Candidate, fit_candidate
from llmtriage_train.model.fit import LinearHeads, fit_heads, head_targets
from llmtriage_train.model.pipeline import TrainOptions, train
from llmtriage_train.model.summary import LearnedFrom

MIRROR = Path(__file__).resolve().parents[1] / "fixtures" / "mirror"


def _outcomes(quality: list[list[float]], split: list[str], models: list[str]) -> Outcomes:
    n = len(split)
    return Outcomes(
        prompts=[f"p{i}" for i in range(n)],
        models=models,
        quality=np.array(quality, dtype=np.float64),
        source=["s"] * n,
        split=list(split),
        task=[None] * n,
    )


def _price(**prices: float) -> dict[str, dict[str, float]]:
    return {m: {"input_price": p / 2, "output_price": p / 2} for m, p in prices.items()}


def test_price_tiers_split_at_the_largest_price_ratio_and_drop_dear_models_no_better() -> None:
    # prices 0.2 | 0.4 0.4 || 1.8 1.8 1.8: the largest ratio (4.5×) is between 0.4 and 1.8
    o = _outcomes(
        #  a    b    c    big1 big2 dud
        [
            [0.5, 0.6, 0.4, 0.9, 0.8, 0.1],
            [0.5, 0.6, 0.4, 0.9, 0.7, 0.2],
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # test row: the dud's only good answer
        ],
        ["train", "train", "test"],
        ["a", "b", "c", "big1", "big2", "dud"],
    )
    info = _price(a=0.2, b=0.4, c=0.4, big1=1.8, big2=1.8, dud=1.8)
    cheap, dear = price_tiers(o, info)
    assert cheap == ["a", "b", "c"]
    assert dear == ["big1", "big2"]  # dud costs as much and answers worse than b on train

    target = tier_target(o, cheap, dear)
    np.testing.assert_allclose(target.weak, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(target.strong, [0.85, 0.8, 0.0])
    assert target.weak_model == "mean of a, b, c"
    assert target.strong_model == "mean of big1, big2"


def test_price_tiers_refuse_what_is_not_a_routing_choice() -> None:
    o = _outcomes([[0.9, 0.1]], ["train"], ["cheap", "dear"])
    with pytest.raises(ValueError, match="no expensive model beats"):
        price_tiers(o, _price(cheap=0.2, dear=2.0))
    with pytest.raises(ValueError, match="two distinct positive prices"):
        price_tiers(o, _price(cheap=1.0, dear=1.0))
    with pytest.raises(ValueError, match="no price"):
        price_tiers(o, _price(cheap=1.0))


def test_routing_set_keeps_its_learning_target_through_row_selection() -> None:
    pair = RoutingSet(
        "x", ["a", "b", "c"], np.array([0.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0]),
        ["train", "train", "test"], "w", "s",
    )  # fmt: skip
    assert pair.learns.weak is pair.weak and pair.learns.strong_model == "s"
    tiers = Target(np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5, 0.6]), "tw", "ts")
    with_target = RoutingSet(*[getattr(pair, f) for f in ("name", "prompts", "weak", "strong",
                             "split", "weak_model", "strong_model")], target=tiers)  # fmt: skip
    part = with_target.rows(np.array([2, 0]))
    assert part.prompts == ["c", "a"]
    np.testing.assert_array_equal(part.weak, [0.0, 0.0])  # evaluated pair
    np.testing.assert_array_equal(part.learns.weak, [0.3, 0.1])  # learnt tiers
    assert part.learns.strong_model == "ts"


def test_llmrouter_learns_its_pair_unless_asked_for_tiers() -> None:
    assert benchmark_set("llmrouter", MIRROR).target is None
    tiered = benchmark_set("llmrouter", MIRROR, tiers=True)
    assert (tiered.weak_model, tiered.strong_model) == ("model-b", "model-c")  # evaluated
    assert tiered.target is not None
    assert tiered.learns.weak_model.startswith("mean of ")
    assert benchmark_set("gsm8k", MIRROR, tiers=True).target is None


def _grouped_problem(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, list[str]]:
    """Column 0 says which benchmark a row is from, and the benchmarks' base rates differ
    wildly; column 1 is what makes a prompt harder than its neighbours in both."""
    rng = np.random.default_rng(seed)
    n = 4000
    group = rng.integers(0, 2, n)
    signal = rng.normal(size=n)
    x = np.column_stack([group * 2.0 - 1.0, signal, rng.normal(size=n)])
    p_strong = 1 / (1 + np.exp(-(2.5 * (group * 2 - 1) + signal)))
    strong = (rng.random(n) < p_strong).astype(float)
    weak = (rng.random(n) < 0.5).astype(float)
    return sp.csr_matrix(x), weak, strong, ["a" if g == 0 else "b" for g in group]


def test_offsets_take_the_benchmark_level_off_the_prompt_weights() -> None:
    x, weak, strong, groups = _grouped_problem()
    plain = fit_candidate(x, weak, strong, groups, Candidate("gain", 1.0))
    offset = fit_candidate(x, weak, strong, groups, Candidate("gain", 1.0, offsets=True))
    # head 0 = P(strong good): without offsets the benchmark column carries the level
    # (true effect 2.5); with them, the nearly free offsets take most of it
    assert plain.coef[0, 0] > 2.0
    assert abs(offset.coef[0, 0]) < 0.25 * plain.coef[0, 0]
    # and the within-benchmark signal is learnt either way
    assert offset.coef[0, 1] == pytest.approx(1.0, abs=0.2)
    assert offset.coef.shape == plain.coef.shape  # folded: no extra columns to serve


def test_folded_offsets_score_like_the_wide_model_at_the_mean_benchmark() -> None:
    from llmtriage_train.model.fit import OFFSET_SCALE

    x, weak, strong, groups = _grouped_problem(1)
    folded = fit_candidate(x, weak, strong, groups, Candidate("gain", 1.0, offsets=True))
    g = np.array([0 if s == "a" else 1 for s in groups])
    onehot = sp.csr_matrix(np.column_stack([g == 0, g == 1]).astype(float) * OFFSET_SCALE)
    wide = fit_heads(
        sp.hstack([x, onehot], format="csr"), head_targets("gain", weak, strong), c=1.0, tol=1e-3
    )
    share = np.array([(g == 0).mean(), (g == 1).mean()]) * OFFSET_SCALE
    at_mean = sp.hstack([x, sp.csr_matrix(np.tile(share, (x.shape[0], 1)))], format="csr")
    np.testing.assert_allclose(folded.probs(x), wide.probs(at_mean), atol=1e-6)
    assert isinstance(folded, LinearHeads)


def test_pipeline_learns_targets_but_reports_the_evaluated_pair(tmp_path: Path) -> None:
    # evaluated pair: the strong model helps on prompts that say 'hard'; the learnt
    # (tier) labels say the opposite, so what is measured where shows in the APGRs
    rng = np.random.default_rng(0)
    hard = rng.random(300) < 0.5
    prompts = [f"{'hard' if h else 'easy'} question {i}" for i, h in enumerate(hard)]
    ones = np.ones(hard.size)
    tiers = Target(np.where(hard, 1.0, 0.0), ones, "tier-w", "tier-s")
    split = ["test" if i % 4 == 0 else "train" for i in range(hard.size)]
    rs = RoutingSet("x", prompts, np.where(hard, 0.0, 1.0), ones, split, "w", "s", tiers)
    opts = TrainOptions(
        out=tmp_path / "m", candidates=(Candidate("gain", 1.0),), jobs=1, lobo=False
    )
    summary = train([rs], HashingEmbedder(), None, opts)
    assert summary.learned_from == {"x": LearnedFrom("w vs s", "tier-w vs tier-s")}
    (cv,) = summary.selection
    # half the prompts gain: a perfect ranking scores APGR 0.75, a reversed one 0.25
    assert cv.per_benchmark["x"] > 0.7  # against the learnt labels
    assert summary.held_out["x"].metrics.apgr < 0.3  # against the evaluated pair
    manifest = (tmp_path / "m" / "manifest.json").read_text()
    assert "tier-s" in manifest


def test_candidates_option_takes_offsets_and_refuses_anything_else() -> None:
    import argparse

    from llmtriage_train.cli import _candidates

    assert _candidates("gain:0.1:0.5:offsets,weak_wrong:0.3:0,gain:0.3:1:products:offsets") == (
        Candidate("gain", 0.1, 0.5, offsets=True),
        Candidate("weak_wrong", 0.3, 0.0),
        Candidate("gain", 0.3, 1.0, offsets=True, stat_products=True),
    )
    with pytest.raises(argparse.ArgumentTypeError, match="LABEL:C:BALANCE"):
        _candidates("gain:0.1:0.5:sideways")
    with pytest.raises(argparse.ArgumentTypeError):
        _candidates("gain:0.1")


def test_test_rows_seen_in_training_are_not_held_out(tmp_path: Path) -> None:
    ones = np.ones(4)
    a = RoutingSet(
        "a", ["p", "q", "r", "s"], ones, ones, ["train", "train", "test", "test"], "w", "s"
    )
    b = RoutingSet("b", ["p", "r", "t", "q"], ones, ones, ["test", "test", "train", None], "w", "s")
    marked = {s.name: s.split for s in mark_seen_test_rows([a, b])}
    # "p" is a training prompt of a, "t" of b; "r" is only ever a test prompt
    assert marked == {
        "a": ["train", "train", "test", "test"],
        "b": [SEEN, "test", "train", None],
    }


def test_evaluation_skips_held_out_prompts_trained_on_elsewhere(tmp_path: Path) -> None:
    # b's test split repeats a's training prompts: only its own new prompts count
    rng = np.random.default_rng(1)
    n = 200
    hard = rng.random(n) < 0.5
    prompts = [f"{'hard' if h else 'easy'} item {i}" for i, h in enumerate(hard)]
    weak, strong = np.where(hard, 0.0, 1.0), np.ones(n)
    a = RoutingSet("a", prompts, weak, strong, ["train"] * n, "w", "s")
    b_split = ["test"] * 50 + ["train"] * (n - 50)
    b = RoutingSet(
        "b", prompts[:50] + [p + " b" for p in prompts[50:]], weak, strong, b_split, "w", "s"
    )
    c = RoutingSet(
        "c",
        [p + " c" for p in prompts],
        weak,
        strong,
        ["test"] * 30 + ["train"] * (n - 30),
        "w",
        "s",
    )
    opts = TrainOptions(out=tmp_path / "m", candidates=(Candidate("gain", 1.0),), jobs=1)
    summary = train([a, b, c], HashingEmbedder(), None, opts)
    assert summary.held_out_seen == {"b": 50}
    assert "b" not in summary.held_out  # nothing of b's test split is new
    assert summary.held_out["c"].metrics.n == 30
    # a and b share 50 prompts: left out, each is scored on the 150 the others lack
    assert {k: r.n for k, r in summary.left_out.items()} == {"a": n - 50, "b": n - 50, "c": n}
    assert summary.to_dict()["leave_one_benchmark_out_n"] == {"a": n - 50, "b": n - 50, "c": n}
