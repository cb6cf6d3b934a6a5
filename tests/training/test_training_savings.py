"""Savings arithmetic on hand-made benchmarks: every figure below is worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.savings.measure import (
    STRATEGIES,
    Bench,
    Decision,
    Point,
    choose,
    describe,
    measure,
    measure_all,
    pareto,
    write_report,
)
from llmtriage_train.savings.pricing import conversation_tokens, cost_usd


def a(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


def bench(*, answers: bool = True, name: str = "gsm8k") -> Bench:
    """4 train + 4 test rows. Cheap call costs 1, strong call 10 (any currency).

    Train: the cheap model fails rows 1 and 3; the verifier doubts exactly those
    (p 0.2, 0.3) and the classifier scores exactly those high (0.9, 0.8).
    Test: the cheap model fails rows 4 and 7; verifier p 0.1 / 0.25 and classifier
    scores 0.95 / 0.85 there, far from any train threshold."""
    n = 8
    return Bench(
        name=name,
        weak=a(1, 0, 1, 0, 0, 1, 1, 0),
        strong=np.ones(n),
        cost_cheap=np.ones(n),
        cost_strong=np.full(n, 10.0),
        score=a(0.1, 0.9, 0.2, 0.8, 0.95, 0.05, 0.1, 0.85),
        p_good=a(0.9, 0.2, 0.8, 0.3, 0.1, 0.95, 0.85, 0.25) if answers else None,
        tokens=np.full(n, 10.0),
        billed_in=np.full(n, 100.0),
        billed_out_cheap=np.full(n, 50.0),
        billed_out_strong=np.full(n, 60.0),
        math=np.zeros(n, dtype=bool),
        code=np.zeros(n, dtype=bool),
        split=np.array(["train"] * 4 + ["test"] * 4),
    )


def test_list_price_arithmetic() -> None:
    # GPT-4-1106: 1000 in x $10/M + 2000 out x $30/M = 0.01 + 0.06
    assert cost_usd(STRONG, a(1000), a(2000))[0] == pytest.approx(0.07)
    # Mixtral: 3000 tokens x $0.60/M
    assert cost_usd(WEAK, a(1000), a(2000))[0] == pytest.approx(0.0018)


class Words:
    def count(self, text: str) -> int:
        return len(text.split())


def test_chat_history_is_billed_again_each_turn() -> None:
    # turn 1: 2 in, 3 out; turn 2: (2 + 3) history + 1 in, 2 out
    assert conversation_tokens([("a b", "c d e"), ("f", "g h")], Words()) == (8, 5)


def test_decision_cost_counts_every_call() -> None:
    b = bench().part("test")
    cascade_like = Decision(np.ones(4, dtype=bool), np.array([True, False, False, True]))
    assert cascade_like.cost(b).sum() == 4 * 1 + 2 * 10
    assert cascade_like.quality(b).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_cascade_threshold_chosen_on_train_and_billed_on_test() -> None:
    row = measure(STRATEGIES["cascade"], bench())
    assert 0.3 < row.params["threshold"] <= 0.8  # escalates exactly rows 1 and 3 on train
    assert row.train_quality == 100.0 and row.test_quality == 100.0
    # test: 4 cheap calls + 2 escalations = 24 for 4 requests = 6 each; always strong = 10
    assert row.cost_per_1k == pytest.approx(6000.0)
    assert row.saved == pytest.approx(40.0)
    assert row.strong_share == 50.0 and row.cheap_cost_share == pytest.approx(100 * 4 / 24)
    assert row.reaches_target


def test_classification_pays_no_cheap_call_on_strong_requests() -> None:
    row = measure(STRATEGIES["classification"], bench())
    assert 0.2 < row.params["threshold"] <= 0.8
    # test: rows 4, 7 strong (10 each), rows 5, 6 cheap (1 each): 22 / 4 = 5.5
    assert row.cost_per_1k == pytest.approx(5500.0) and row.saved == pytest.approx(45.0)


def test_fixed_strategies() -> None:
    rows = {r.strategy: r for r in measure_all([bench()])}
    assert rows["always strong"].saved == 0.0 and rows["always strong"].test_quality == 100.0
    assert rows["always cheap"].saved == pytest.approx(90.0)
    assert rows["always cheap"].test_quality == 50.0 and not rows["always cheap"].reaches_target
    # rules cannot tell the rows apart (same length, no markers): all strong is the only way
    assert rows["rules"].saved == 0.0


def test_no_cascade_without_answers() -> None:
    names = {r.strategy for r in measure_all([bench(answers=False, name="mmlu")])}
    assert "cascade" not in names and "hybrid" in names


def test_hybrid_routes_by_rule_score_and_verifier() -> None:
    b = bench()
    params = {
        "min_tokens": 5.0,
        "math": 0.0,
        "code": 0.0,
        "low": 0.5,
        "high": 0.9,
        "threshold": 0.5,
    }
    fired = STRATEGIES["hybrid"].decide(b, params)
    assert fired.strong_called.all() and not fired.cheap_called.any()  # every prompt ≥ 5 tokens
    params["min_tokens"] = math.inf
    d = STRATEGIES["hybrid"].decide(b.part("test"), params)
    # test scores .95 (≥ high: strong), .05 and .1 (< low: cheap), .85 (band, p .25: cascade)
    assert d.strong_called.tolist() == [True, False, False, True]
    assert d.cheap_called.tolist() == [False, True, True, True]
    assert d.cost(b.part("test")).sum() == 10 + 1 + 1 + 11


def test_choose_and_pareto() -> None:
    pts = [Point({}, 0.99, 5.0), Point({}, 0.96, 3.0), Point({}, 0.90, 1.0), Point({}, 0.95, 4.0)]
    assert choose(pts).cost == 3.0
    assert choose([Point({}, 0.5, 1.0), Point({}, 0.7, 2.0)]).quality == 0.7  # none reach 95 %
    assert [p.cost for p in pareto(pts)] == [1.0, 3.0, 5.0]


def test_describe() -> None:
    assert describe({}) == "–"
    assert describe({"threshold": 0.5}) == "threshold 0.500"
    text = describe(
        {"min_tokens": 100.0, "math": 1.0, "code": 0.0, "low": 0.2, "high": 0.8, "threshold": 0.4}
    )
    assert text.startswith("rules: ≥100 tok or math") and "cascade at 0.400" in text


def test_report_files(tmp_path: Path) -> None:
    benches = [bench(), bench(answers=False, name="mmlu")]
    rows = measure_all(benches)
    write_report(rows, benches, tmp_path / "savings.md", tmp_path / "savings.png")
    text = (tmp_path / "savings.md").read_text()
    assert "verifier AUC **1.000**" in text and "| cascade |" in text
    assert (tmp_path / "savings.png").stat().st_size > 1000
