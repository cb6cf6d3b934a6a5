from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmtriage_train.data.outcomes import (
    Outcomes,
    OutcomesError,
    _fallback_last_user_text,
    last_user_text,
    read_outcomes,
    write_outcomes,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outcomes"


def _outcomes() -> Outcomes:
    return Outcomes(
        prompts=["a", "b", "c"],
        models=["m1", "m2"],
        quality=np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 0.25]]),
        source=["s", "s", "t"],
        split=["train", "test", None],
        task=["x", None, "y"],
    )


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, models: list[str] | None = None) -> str:
    with pytest.raises(OutcomesError) as info:
        read_outcomes(path, models=models)
    message = str(info.value)
    assert "\n" not in message  # one line, fit for a CLI
    return message


# --- reading good files ------------------------------------------------------------


def test_csv_judge_scores_are_minmax_scaled_jointly() -> None:
    o = read_outcomes(FIXTURES / "judge_scores.csv")
    # `id` is id-like and `response_note` is text: neither is a model column
    assert o.models == ["model-small", "model-large"]
    raw = np.array([[4, 10], [10, 10], [1, 7]], dtype=float)
    np.testing.assert_allclose(o.quality, (raw - 1) / 9)  # min 1, max 10 over both models
    assert o.prompts[2] == 'Explain "entropy" to a child.'
    assert o.split == ["train", "test", None]
    assert o.task == ["writing", "math", "science"]
    assert o.source == ["judge_scores"] * 3  # defaults to the file stem


def test_jsonl_messages_score_the_last_user_turn() -> None:
    o = read_outcomes(FIXTURES / "messages.jsonl")
    assert o.prompts == [
        "What is the boiling point of water?",
        "Describe this image\nin one line",
        "Prove that sqrt(2) is irrational.",
    ]
    assert o.models == ["cheap", "strong"]
    np.testing.assert_array_equal(o.quality, [[1, 1], [0, 1], [0, 1]])  # bools, "False", 0/1
    assert o.source == ["support", "messages", "messages"]
    assert o.split == ["train", "test", None]
    assert o.task == [None, None, "proof"]


def test_values_already_in_unit_range_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", "prompt,a,b\nx,0.25,1\ny,0,0.5\n")
    np.testing.assert_array_equal(read_outcomes(path).quality, [[0.25, 1.0], [0.0, 0.5]])


def test_parquet_with_messages(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_pylist(
        [
            {
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": "second question"},
                ],
                "m1": True,
                "m2": False,
                "split": "train",
            },
            {
                "messages": [{"role": "user", "content": "hi"}],
                "m1": False,
                "m2": True,
                "split": None,
            },
        ]
    )
    path = tmp_path / "o.parquet"
    pq.write_table(table, path)
    o = read_outcomes(path)
    assert o.prompts == ["second question", "hi"]
    assert o.models == ["m1", "m2"]
    np.testing.assert_array_equal(o.quality, [[1, 0], [0, 1]])
    assert o.split == ["train", None]


def test_messages_as_json_text_in_csv(tmp_path: Path) -> None:
    msgs = json.dumps([{"role": "user", "content": "Q1"}]).replace('"', '""')
    path = _write(tmp_path, "m.csv", f'messages,a,b\n"{msgs}",1,0\n')
    assert read_outcomes(path).prompts == ["Q1"]


def test_models_argument_selects_and_orders_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", "prompt,cost,a,b\nx,3,1,0\ny,5,0,1\n")
    # without models=, the numeric `cost` column would count as a model (and force scaling)
    assert read_outcomes(path).models == ["cost", "a", "b"]
    o = read_outcomes(path, models=["b", "a"])
    assert o.models == ["b", "a"]
    np.testing.assert_array_equal(o.quality, [[0, 1], [1, 0]])


# --- bad input --------------------------------------------------------------------


def test_missing_prompt_column(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "p.csv", "question,a,b\nx,1,0\n"))
    assert "'prompt' or 'messages'" in message and "question" in message


def test_named_model_column_missing_lists_available(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "p.csv", "prompt,a,b\nx,1,0\n"), models=["a", "gpt-9"])
    assert "'gpt-9'" in message and "available columns: prompt, a, b" in message


def test_non_numeric_value_names_row_and_column(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "p.csv", "prompt,a,b\nx,1,0\ny,1,maybe\n"))
    assert "row 2" in message and "'b'" in message and "maybe" in message


def test_empty_model_value_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.jsonl", '{"prompt": "x", "a": 1, "b": 0}\n{"prompt": "y", "a": 1}\n')
    message = _error(path)
    assert "row 2" in message and "'b'" in message


def test_fewer_than_two_model_columns(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "p.csv", "prompt,a,notes\nx,1,good\n"))
    assert "at least 2" in message and "['a']" in message


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.csv", ""), ("header_only.csv", "prompt,a,b\n"), ("empty.jsonl", "\n\n")],
)
def test_empty_file(tmp_path: Path, name: str, text: str) -> None:
    assert "empty file" in _error(_write(tmp_path, name, text))


def test_unknown_suffix(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "p.txt", "prompt,a,b\n"))
    assert "unknown suffix '.txt'" in message and ".csv, .jsonl or .parquet" in message


def test_bad_split_value(tmp_path: Path) -> None:
    assert "split" in _error(_write(tmp_path, "p.csv", "prompt,a,b,split\nx,1,0,dev\n"))


def test_messages_without_user_turn(tmp_path: Path) -> None:
    line = json.dumps({"messages": [{"role": "system", "content": "s"}], "a": 1, "b": 0})
    assert "no user message" in _error(_write(tmp_path, "p.jsonl", line + "\n"))


def test_invalid_jsonl_line(tmp_path: Path) -> None:
    assert "line 2" in _error(
        _write(tmp_path, "p.jsonl", '{"prompt": "x", "a": 1, "b": 0}\n{oops\n')
    )


def test_constant_out_of_range_scores(tmp_path: Path) -> None:
    assert "every model score is 5.0" in _error(_write(tmp_path, "p.csv", "prompt,a,b\nx,5,5\n"))


# --- the Outcomes object ------------------------------------------------------------


def test_column_subset_and_len() -> None:
    o = _outcomes()
    assert len(o) == 3
    np.testing.assert_array_equal(o.column("m2"), [0.0, 1.0, 0.25])
    by_mask = o.subset(np.array([True, False, True]))
    assert by_mask.prompts == ["a", "c"] and by_mask.split == ["train", None]
    by_index = o.subset([2, 0])
    assert by_index.prompts == ["c", "a"] and by_index.task == ["y", "x"]
    np.testing.assert_array_equal(by_index.quality, [[0.0, 0.25], [1.0, 0.0]])
    empty = o.subset([])
    assert len(empty) == 0 and empty.quality.shape == (0, 2)
    with pytest.raises(OutcomesError, match="unknown model 'm3'"):
        o.column("m3")
    with pytest.raises(OutcomesError, match="mask"):
        o.subset(np.array([True, False]))


def test_select_models_and_concat() -> None:
    o = _outcomes()
    swapped = o.select_models(["m2", "m1"])
    assert swapped.models == ["m2", "m1"]
    both = Outcomes.concat([o, swapped])  # same set, other order: realigned to part 0
    assert both.models == ["m1", "m2"] and len(both) == 6
    np.testing.assert_array_equal(both.quality[3:], o.quality)
    with pytest.raises(OutcomesError, match="part 1"):
        Outcomes.concat([o, o.select_models(["m1"])])
    with pytest.raises(OutcomesError):
        Outcomes.concat([])


def test_construction_is_validated() -> None:
    with pytest.raises(OutcomesError, match=r"\[0, 1\]"):
        Outcomes(["a"], ["m1", "m2"], np.array([[1.5, 0.0]]), ["s"], [None], [None])
    with pytest.raises(OutcomesError, match="shape"):
        Outcomes(["a"], ["m1", "m2"], np.zeros((2, 2)), ["s"], [None], [None])
    with pytest.raises(OutcomesError, match="split"):
        Outcomes(["a"], ["m1", "m2"], np.zeros((1, 2)), ["s"], ["val"], [None])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    o = _outcomes()
    back = read_outcomes(write_outcomes(o, tmp_path / f"o{suffix}"))
    assert back.prompts == o.prompts and back.models == o.models
    np.testing.assert_array_equal(back.quality, o.quality)
    assert back.source == o.source and back.split == o.split and back.task == o.task


def test_last_user_text_matches_the_fallback() -> None:
    cases = [
        [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ],
        [{"role": "system", "content": "only system"}],
        [{"role": "user", "content": "old"}, {"role": "user", "content": "new"}],
    ]
    expected = ["one", "a\nb", "", "new"]
    assert [last_user_text(c) for c in cases] == expected
    assert [_fallback_last_user_text(c) for c in cases] == expected
