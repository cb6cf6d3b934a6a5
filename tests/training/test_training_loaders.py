"""Loaders against hand-made fixtures that mimic each upstream file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmtriage_train.data.datasets import DataError
from llmtriage_train.data.loaders import (
    BENCHMARKS,
    STRONG,
    WEAK,
    cheapest_and_strongest,
    extract_mt_bench_answer,
    llmrouter_models,
    load_benchmark,
    load_gsm8k,
    load_gsm8k_responses,
    load_llmrouter,
    load_mmlu,
    load_mt_bench,
    load_mt_bench_answers,
)
from llmtriage_train.data.outcomes import Outcomes
from llmtriage_train.data.splits import stable_split

MIRROR = Path(__file__).resolve().parents[1] / "fixtures" / "mirror"


def test_mmlu_drops_contaminated_even_with_trailing_whitespace() -> None:
    o = load_mmlu(MIRROR)
    # anatomy has 3 rows (one contaminated; its eval_prompt ends in extra spaces/newline)
    assert len(o) == 4
    assert not any(p.startswith("Contaminated") for p in o.prompts)
    assert o.models == [WEAK, STRONG]
    assert o.task == ["anatomy", "anatomy", "astronomy", "astronomy"]
    assert o.source == ["mmlu"] * 4
    np.testing.assert_array_equal(o.quality, [[1, 1], [0, 1], [1, 1], [0, 0]])
    assert o.split == stable_split(o.prompts)

    full = load_mmlu(MIRROR, drop_contaminated=False)
    assert len(full) == 5
    assert full.quality[2].tolist() == [1.0, 0.0]


def test_gsm8k_quality_and_responses() -> None:
    o = load_gsm8k(MIRROR)
    assert len(o) == 3 and len(load_gsm8k(MIRROR, drop_contaminated=False)) == 4
    assert not any(p.startswith("Janet") for p in o.prompts)
    np.testing.assert_array_equal(o.quality, [[1, 1], [0, 1], [0, 0]])
    assert o.task == [None] * 3

    records = load_gsm8k_responses(MIRROR)
    assert len(records) == 6  # 3 problems x 2 models
    train = next(r for r in records if r["prompt"].startswith("A train") and r["model"] == STRONG)
    assert train["correct"] is True
    assert train["response"] == "60 km/h * 2.5 h = 150 km.\n#### 150"
    weak = next(r for r in records if r["prompt"].startswith("A train") and r["model"] == WEAK)
    assert weak["correct"] is False and weak["response"].endswith("#### 120")
    split_of = dict(zip(o.prompts, o.split, strict=True))
    assert all(r["split"] == split_of[r["prompt"]] for r in records)


def test_mt_bench_averages_turns_normalises_and_skips_failed_judgements() -> None:
    o = load_mt_bench(MIRROR)
    assert o.prompts == [
        "You overtake the second person in a race. What position are you in?",
        "What is 12 * 12?",
    ]  # q81 is contaminated
    assert o.task == ["reasoning", "math"]
    expected = [
        [((2 - 1) / 9 + (4 - 1) / 9) / 2, ((10 - 1) / 9 + (8 - 1) / 9) / 2],
        [(7 - 1) / 9, 1.0],  # the weak turn-1 score is -1 (judge failed): skipped
    ]
    np.testing.assert_allclose(o.quality, expected)
    full = load_mt_bench(MIRROR, drop_contaminated=False)
    assert len(full) == 3
    np.testing.assert_allclose(full.quality[0], [4 / 9, 1.0])


def test_mt_bench_answers_are_cut_out_of_the_judge_prompt() -> None:
    answers = load_mt_bench_answers(MIRROR)
    got = {(a["question_id"], a["model"], a["turn"]): a for a in answers}
    assert (111, WEAK, 1) not in got  # score -1
    assert len(answers) == 7
    assert got[(101, WEAK, 1)]["answer"] == "You are in first place."
    assert got[(101, WEAK, 2)]["answer"] == "You are second to last."
    # math prompts carry a reference answer first; the assistant's own answer is returned
    assert got[(111, WEAK, 2)]["answer"] == "13 * 13 = 169"
    assert got[(111, STRONG, 1)]["answer"] == "144"
    assert got[(101, STRONG, 2)]["score"] == 8.0
    assert got[(101, STRONG, 2)]["category"] == "reasoning"
    assert extract_mt_bench_answer("no recognisable markers") is None


def test_llmrouter_aligns_tasks_by_text_and_keeps_test_held_out() -> None:
    o = load_llmrouter(MIRROR)
    assert o.models == ["model-a", "model-b", "model-c"]
    assert o.split == ["train", "train", "train", "test", "test"]
    # "Solve 2x + 3 = 7." is in both files: kept in test only
    assert o.prompts.count("Solve 2x + 3 = 7.") == 1
    task = dict(zip(o.prompts, o.task, strict=True))
    assert task == {
        "What is the capital of France?": "trivia_qa",
        "def add(a, b): complete the function": "mbpp",
        "Which gas do plants absorb?": "arc_challenge",  # listed twice: first task wins
        "Solve 2x + 3 = 7.": "math",
        "Who wrote Hamlet?": "trivia_qa",
    }
    np.testing.assert_array_equal(o.quality[2], [1.0, 0.25, 0.75])
    assert o.source == ["llmrouter"] * 5
    assert len(load_llmrouter(MIRROR, drop_train_test_overlap=False)) == 6


def test_cheapest_and_strongest() -> None:
    o = load_llmrouter(MIRROR)
    info = llmrouter_models(MIRROR)
    assert set(info) == {"model-a", "model-b", "model-c", "model-unused"}
    # a and b both cost 0.4: the tie goes to the lower train quality (b); the unused
    # cheaper model is not a candidate because the outcomes have no column for it
    assert cheapest_and_strongest(o, info) == ("model-b", "model-c")


def test_strongest_ignores_test_rows() -> None:
    o = Outcomes(
        prompts=["p1", "p2", "p3"],
        models=["x", "y"],
        quality=np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
        source=["s"] * 3,
        split=["train", "test", "test"],
        task=[None] * 3,
    )
    info = {"x": {"input_price": 1, "output_price": 1}, "y": {"input_price": 2, "output_price": 2}}
    assert cheapest_and_strongest(o, info) == ("x", "x")
    with pytest.raises(ValueError, match="no price"):
        cheapest_and_strongest(o, {"x": info["x"]})


def test_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(BENCHMARKS) == {"mmlu", "gsm8k", "mt_bench", "llmrouter"}
    assert len(load_benchmark("gsm8k", MIRROR)) == 3
    monkeypatch.setenv("LLMTRIAGE_DATA_DIR", str(MIRROR))
    assert len(load_benchmark("mt_bench")) == 2  # root defaults to data_root()
    with pytest.raises(ValueError, match="known: mmlu, gsm8k, mt_bench, llmrouter"):
        load_benchmark("hellaswag", MIRROR)


def test_missing_data_says_run_make_data(tmp_path: Path) -> None:
    for name in BENCHMARKS:
        with pytest.raises(DataError, match="make data"):
            load_benchmark(name, tmp_path)
