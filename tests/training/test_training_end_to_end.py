"""Train on a small subset of the real benchmarks, then evaluate through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmtriage.scoring import Scorer
from llmtriage_train.data.datasets import data_root
from llmtriage_train.data.loaders import STRONG, WEAK, load_gsm8k
from llmtriage_train.data.outcomes import write_outcomes

pytestmark = pytest.mark.slow

needs_data = pytest.mark.skipif(
    not (data_root() / "routellm" / "gsm8k" / "gsm8k_responses.csv").is_file(),
    reason="benchmark data not materialised (run `make data`)",
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "llmtriage.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@needs_data
def test_train_then_evaluate_small_subset(tmp_path: Path) -> None:
    # a 400-row slice of GSM8K in the outcomes format, with its fixed split column
    gsm8k = load_gsm8k(data_root())
    data = write_outcomes(gsm8k.subset(np.arange(400)), tmp_path / "gsm8k_400.csv")
    out = tmp_path / "small"
    columns = ("--data", str(data), "--weak", WEAK, "--strong", STRONG)
    train = _cli(
        "train", "--out", str(out), *columns,
        "--candidates", "gain:0.3:0,weak_wrong:0.3:0", "--jobs", "1",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label"]["kind"] in ("gain", "weak_wrong")
    [source] = manifest["training_data"]
    assert source["source"] == "gsm8k_400" and 250 < source["rows"] < 400
    assert len(manifest["metrics"]["selection"]) == 2
    report = (out / "report.md").read_text()
    assert report.startswith("# Scorer")
    assert "- static embedding throughput:" in report  # names the embedder it timed
    assert manifest["metrics"]["embedder_kind"] == "static"

    scorer = Scorer.load(out)  # the artifact carries its embedder and loads on its own
    assert 0.0 <= scorer.score("What is 2 + 2?") <= 1.0

    evaluation = _cli("evaluate", "--model", str(out), *columns)
    assert evaluation.returncode == 0, evaluation.stderr[-2000:]
    assert "APGR" in evaluation.stdout
    served = json.loads((out / "eval" / "metrics.json").read_text())["benchmarks"]["gsm8k_400"]
    trained = manifest["metrics"]["held_out"]["gsm8k_400"]
    # evaluate scores through the serving Scorer; training scored in matrix form
    assert served["n"] == trained["n"] == 400 - source["rows"]
    assert served["apgr"] == pytest.approx(trained["apgr"], abs=0.01)
    assert (out / "eval" / served["plot"]).is_file()


def test_evaluate_rejects_missing_columns_in_one_line(tmp_path: Path, tiny_artifact: Path) -> None:
    data = tmp_path / "outcomes.csv"
    data.write_text("prompt,cheap,strong\nhello,1,0\nsolve x,0,1\n")
    result = _cli(
        "evaluate",
        "--model",
        str(tiny_artifact),
        "--data",
        str(data),
        "--weak",
        "cheap",
        "--strong",
        "gpt4",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "gpt4" in lines[0]


def test_evaluate_user_outcomes_file(tmp_path: Path, tiny_artifact: Path) -> None:
    rows = ["prompt,cheap,strong"]
    for i in range(40):
        hard = i % 2 == 0
        text = f"Solve {i}x^2 + {i}x = {i * 7} and integrate over [0, {i}]. " * (3 if hard else 0)
        rows.append(f'"{text or f"hello number {i}"}",{0 if hard else 1},1')
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    result = _cli(
        "evaluate",
        "--model",
        str(tiny_artifact),
        "--data",
        str(data),
        "--weak",
        "cheap",
        "--strong",
        "strong",
        "--split",
        "all",
        "--out",
        str(tmp_path / "r"),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())["benchmarks"]["mine"]
    # the tiny artifact scores long maths prompts high, and those are the ones the weak model
    # fails: a perfect ranking, so APGR equals the oracle's (PGR reaches 1 at half the calls)
    assert metrics["apgr"] == pytest.approx(metrics["oracle_apgr"]) == pytest.approx(0.75)
