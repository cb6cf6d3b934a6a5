"""`llmtriage score` and the start-up errors of `llmtriage serve`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from llmtriage.cli import main
from llmtriage.scoring import Scorer


def test_score_one_prompt(tiny_artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--model", str(tiny_artifact), "What is 2 + 2?"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = Scorer.load(tiny_artifact).score("What is 2 + 2?")
    assert out == {
        "score": pytest.approx(expected),
        "tier": "cheap",
        "model_version": "tiny-test-1",
    }


def test_score_jsonl_from_stdin(
    tiny_artifact: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        json.dumps("plain string"),
        "",
        json.dumps({"id": "a1", "prompt": "with id"}),
        json.dumps({"messages": [{"role": "user", "content": "plain string"}]}),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["score", "--model", str(tiny_artifact), "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3
    assert rows[1]["id"] == "a1"
    assert rows[0]["score"] == rows[2]["score"]


def test_score_bad_stdin_line(
    tiny_artifact: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('"ok"\n{"text": 1}\n'))
    assert main(["score", "--model", str(tiny_artifact), "-"]) == 2
    assert "line 2" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["score", "serve"])
def test_missing_model_is_one_line_naming_path_and_make_train(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here"
    argv = [command, "--model", str(missing)] + (["hello"] if command == "score" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(missing) in err and "make train" in err


def test_serve_rejects_invalid_flag_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "99999"]) == 2
    assert "'port'" in capsys.readouterr().err
