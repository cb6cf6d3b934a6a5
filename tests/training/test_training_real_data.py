"""Loaders against the real pinned data, checked against the facts in the data's SOURCES.md.

Runs on the mirror named by LLMTRIAGE_DATA_MIRROR (CI sets it), else on the materialised
data (`make data`); skipped only when neither is there.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from llmtriage_train.data.datasets import data_root, verify
from llmtriage_train.data.loaders import (
    STRONG,
    WEAK,
    cheapest_and_strongest,
    contaminated_prompts,
    llmrouter_models,
    load_gsm8k,
    load_gsm8k_responses,
    load_llmrouter,
    load_mmlu,
    load_mt_bench,
    load_mt_bench_answers,
)
from llmtriage_train.generalisation.tasks import load_tasks


def _real_root() -> Path:
    env = os.environ.get("LLMTRIAGE_DATA_MIRROR")
    if env:
        mirror = Path(env)
        if not mirror.is_dir():  # set but wrong is a broken setup, not absent data
            pytest.fail(f"LLMTRIAGE_DATA_MIRROR={env} is not a folder")
        return mirror
    materialised: Path = data_root()
    if not (materialised / "routellm").is_dir():
        pytest.skip(
            f"real data absent: set LLMTRIAGE_DATA_MIRROR to the data mirror or run `make data` "
            f"(looked in {materialised})"
        )
    return materialised


@pytest.fixture(scope="module")
def root() -> Path:
    return _real_root()


def _acc(values: np.ndarray) -> float:
    return round(float(values.mean()), 3)


def test_every_manifest_file_matches_its_checksum(root: Path) -> None:
    assert len(verify(root)) == 81


def test_contaminated_prompts_all_match(root: Path) -> None:
    for bench, listed, full, kept in (
        (load_mmlu, 5, 14_042, 14_037),
        (load_gsm8k, 12, 1_319, 1_307),
        (load_mt_bench, 8, 80, 72),
    ):
        name = bench.__name__.removeprefix("load_")
        assert (
            len(contaminated_prompts(root / "routellm" / name / "contaminated_prompts.jsonl"))
            == listed
        )
        assert len(bench(root, drop_contaminated=False)) == full
        assert len(bench(root)) == kept, name


def test_mmlu_facts(root: Path) -> None:
    o = load_mmlu(root, drop_contaminated=False)
    assert len(set(o.task)) == 57
    weak, strong = o.column(WEAK), o.column(STRONG)
    assert (_acc(weak), _acc(strong)) == (0.681, 0.806)
    assert _acc((weak == 0) & (strong == 1)) == 0.178
    test_share = o.split.count("test") / len(o)
    assert 0.18 < test_share < 0.22


def test_gsm8k_facts(root: Path) -> None:
    o = load_gsm8k(root, drop_contaminated=False)
    assert (_acc(o.column(WEAK)), _acc(o.column(STRONG))) == (0.638, 0.857)
    records = load_gsm8k_responses(root)
    assert len(records) == 2 * 1_307
    assert all(r["response"].strip() for r in records)


def test_mt_bench_facts(root: Path) -> None:
    answers = load_mt_bench_answers(root, drop_contaminated=False)
    assert len(answers) == 320  # 80 questions x 2 models x 2 turns, no failed judgements
    mean = {
        m: round(float(np.mean([a["score"] for a in answers if a["model"] == m])), 2)
        for m in (WEAK, STRONG)
    }
    assert mean == {STRONG: 9.23, WEAK: 8.34}
    assert all(a["answer"] for a in answers)
    assert not any("### User:" in (a["answer"] or "") for a in answers)
    o = load_mt_bench(root, drop_contaminated=False)
    # with both turns judged everywhere, the mean of per-question means is the overall mean
    assert round(float(o.column(STRONG).mean()) * 9 + 1, 2) == 9.23
    assert Counter(o.task) == {c: 10 for c in set(o.task)} and len(set(o.task)) == 8


def test_llmrouter_facts(root: Path) -> None:
    full = load_llmrouter(root, drop_train_test_overlap=False)
    assert Counter(full.split) == {"train": 5_608, "test": 500}
    o = load_llmrouter(root)
    assert Counter(o.split) == {"train": 5_608 - 119, "test": 500}
    assert len(o.models) == 9
    assert None not in o.task and len(set(o.task)) == 14
    info = llmrouter_models(root)
    assert len(info) == 14 and set(o.models) <= set(info)
    assert cheapest_and_strongest(o, info) == ("gemma-2-9b-it", "llama-3.1-nemotron-51b-instruct")
    from llmtriage_train.data.routing_sets import price_tiers

    cheap, dear = price_tiers(o, info)
    # $0.20–0.40 per million tokens in+out vs $1.80; ChatQA-1.5-70B costs $1.80 but
    # scores 0.20 on train, below the best cheap model (0.56), so it is no routing choice
    assert len(cheap) == 6 and "gemma-2-9b-it" in cheap
    assert dear == ["llama-3.1-nemotron-51b-instruct", "llama-3.3-nemotron-super-49b-v1"]


def test_routerdc_and_the_task_table(root: Path) -> None:
    table = load_tasks(root)
    rows = Counter(zip(table.source, table.task, strict=True))
    # SOURCES.md: 871 MATH prealgebra, 1,346 C-Eval, 2,000 + 3,475 CMMLU, 1,000 + 1,319
    # GSM8K, 115 + 49 HumanEval, 164 JavaScript, 2,000 + 4,213 MMLU
    assert rows["routerdc", "math"] == 871 and rows["routerdc", "ceval"] == 1346
    assert rows["routerdc", "cmmlu"] == 5475 and rows["routerdc", "gsm8k"] == 2319
    assert rows["routerdc", "human_eval"] == 164 and rows["routerdc", "mmlu"] == 6213
    assert len(table.tasks) == 18 and len(table.models["routerdc"]) == 7
    # the same GSM8K question in all three sources is one question with one split
    by_key: dict[str, set[str]] = {}
    for k, s in zip(table.keys, table.split, strict=True):
        by_key.setdefault(k, set()).add(s)
    assert all(len(v) == 1 for v in by_key.values())
    gsm8k = {k for k, t in zip(table.keys, table.task, strict=True) if t == "gsm8k"}
    mgsm = {k for k, t in zip(table.keys, table.task, strict=True) if t == "mgsm"}
    assert len(mgsm & gsm8k) == 250  # MGSM's English rows are GSM8K test questions
