"""The leave-one-task-out splitter never trains on a question it tests on, whatever
source, task, wrapper or spelling the duplicate carries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtriage_train.generalisation.loto import loto_folds
from llmtriage_train.generalisation.normalise import dedup_key, strip_wrappers
from llmtriage_train.generalisation.tasks import SourceRows, resolve_splits, stack

QUESTIONS = [f"How many apples does person {i} have if they buy {i + 2} more?" for i in range(8)]
TASKS = ["gsm8k", "mgsm", "mmlu", "math"]
SOURCES = ["routellm", "llmrouter", "routerdc"]


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """A question as another source may write it: other case, spacing, punctuation,
    and a benchmark wrapper."""
    q = draw(st.sampled_from(QUESTIONS))
    if draw(st.booleans()):
        q = q.upper()
    if draw(st.booleans()):
        q = "  " + q.replace(" ", "   \n") + " "
    if draw(st.booleans()):
        q = q.replace("?", " ?")
    wrapper = draw(
        st.sampled_from(
            [
                "{}",
                "{}\nAnswer:",
                "Q: {}",
                "{}答案：",
                "{}\nAfter careful thought, put you final answer in \\boxed{{...}}.",
            ]
        )
    )
    return wrapper.format(q)


rows_strategy = st.lists(
    st.tuples(disguised(), st.sampled_from(TASKS), st.sampled_from(SOURCES)),
    min_size=2,
    max_size=40,
)


def _table(rows: list[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    parts = []
    for source in SOURCES:
        mine = [r for r in rows if r[2] == source]
        if mine:
            parts.append(
                SourceRows(
                    source=source,
                    models=["a", "b"],
                    prompts=[p for p, _, _ in mine],
                    quality=np.zeros((len(mine), 2)),
                    task=[t for _, t, _ in mine],
                    split=[None] * len(mine),
                )
            )
    return stack(parts)


@settings(max_examples=200, deadline=None)
@given(rows_strategy)
def test_no_normalised_duplicate_of_a_test_prompt_is_trained_on(
    rows: list[tuple[str, str, str]],
) -> None:
    table = _table(rows)
    for fold in loto_folds(table):
        test_questions = {dedup_key(table.raw_prompts[i]) for i in fold.test}
        for i in fold.train:
            assert table.task[i] != fold.task
            assert dedup_key(table.raw_prompts[i]) not in test_questions
        # every row of the task is tested, none is lost
        assert sorted(fold.test.tolist()) == [i for i, t in enumerate(table.task) if t == fold.task]


def test_dedup_key_sees_through_wrappers_and_spelling() -> None:
    a = "Janet’s ducks lay 16 eggs per day. How much?"
    assert dedup_key(a) == dedup_key("  janet’s DUCKS lay 16 eggs per day.\nHow much ?\nAnswer:")
    assert dedup_key(a) != dedup_key("Janet’s ducks lay 17 eggs per day. How much?")


def test_strip_wrappers_keeps_the_question() -> None:
    assert strip_wrappers("What is 2+2?\nA. 3\nB. 4\nAnswer:") == "What is 2+2?\nA. 3\nB. 4"
    assert strip_wrappers("下列哪个正确\nA. 甲\nB. 乙\n答案：") == "下列哪个正确\nA. 甲\nB. 乙"
    assert strip_wrappers("Answer:") == "Answer:"  # nothing left: keep the text


def test_splits_agree_across_sources_and_routellm_wins() -> None:
    keys = ["q1", "q1", "q2", "q2", "q3"]
    sources = ["routellm", "routerdc", "llmrouter", "routerdc", "routerdc"]
    splits: list[str | None] = ["train", "test", "train", "test", None]
    out = resolve_splits(keys, sources, splits)
    assert out[0] == out[1] == "train"  # RouteLLM's held-out split is never moved
    assert out[2] == out[3] == "test"  # otherwise test anywhere is test everywhere
    assert out[4] in ("train", "test")
