"""The evaluation report: files written, numbers in the Markdown, baselines matched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmtriage_train.evaluation.metrics import (
    RoutingCurves,
    RoutingMetrics,
    evaluate_scores,
    routing_curves,
)
from llmtriage_train.evaluation.report import ROUTELLM_BEST, format_table, write_report

# Same hand case as test_metrics: APGR .625, CPT50 25%, CPT80 75%, 10-bin CPTs 50% / 65%,
# AUC .75, oracle .75, q_weak .25, q_strong .75.
WEAK = np.array([1.0, 0.0, 0.0, 0.0])
STRONG = np.array([1.0, 1.0, 1.0, 0.0])
SCORES = np.array([0.1, 0.9, 0.4, 0.6])


def _results(*names: str) -> dict[str, tuple[RoutingMetrics, RoutingCurves]]:
    m, c = evaluate_scores(SCORES, WEAK, STRONG), routing_curves(SCORES, WEAK, STRONG)
    return {name: (m, c) for name in names}


def _row(table: str, name: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == name:
            return cells
    raise AssertionError(f"no row for {name} in\n{table}")


def test_format_table_numbers() -> None:
    table = format_table({"mmlu": evaluate_scores(SCORES, WEAK, STRONG)})
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    row = dict(zip(header, _row(table, "mmlu"), strict=True))
    assert row == {
        "benchmark": "mmlu",
        "n": "4",
        "q_weak": "0.250",
        "q_strong": "0.750",
        "AUC": "0.750",
        "APGR (full)": "0.625",
        "APGR (10-bin)": "0.625",
        "CPT(50%)": "25.0%",
        "CPT(80%)": "75.0%",
        "CPT(50%) 10-bin": "50.0%",
        "CPT(80%) 10-bin": "65.0%",
        "oracle APGR": "0.750",
    }
    assert "RouteLLM" not in table


def test_format_table_baselines_match_loose_names() -> None:
    metrics = {name: m for name, (m, _) in _results("MMLU", "GSM8K", "MT Bench", "custom").items()}
    table = format_table(metrics, baselines=ROUTELLM_BEST)
    assert _row(table, "MMLU")[-3:] == ["0.603", "35.4%", "70.3%"]
    assert _row(table, "GSM8K")[-3:] == ["0.622", "33.6%", "63.3%"]
    assert _row(table, "MT Bench")[-3:] == ["0.802", "13.4%", "31.3%"]
    assert _row(table, "custom")[-3:] == ["–", "–", "–"]


def test_nan_renders_as_dash() -> None:
    m = evaluate_scores(SCORES, WEAK, STRONG)
    nan_auc = RoutingMetrics(**{**m.to_dict(), "auc": float("nan")})
    assert _row(format_table({"x": nan_auc}), "x")[4] == "–"


def test_write_report_files(tmp_path: Path) -> None:
    out = write_report(
        tmp_path / "eval",
        _results("mmlu", "MT Bench"),
        title="Router v1 on benchmarks",
        baselines=ROUTELLM_BEST,
    )
    assert out == tmp_path / "eval"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["metrics.json", "pgr_MT_Bench.png", "pgr_mmlu.png", "report.md"]

    for png in ("pgr_mmlu.png", "pgr_MT_Bench.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000

    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Router v1 on benchmarks")
    assert "| mmlu | 4 | 0.250 | 0.750 | 0.750 | 0.625 | 0.625 | 25.0% | 75.0% |" in report
    assert "0.802 | 13.4% | 31.3% |" in report  # MT Bench baseline
    assert "](pgr_mmlu.png)" in report and "](pgr_MT_Bench.png)" in report

    payload = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert payload["title"] == "Router v1 on benchmarks"
    mmlu = payload["benchmarks"]["mmlu"]
    assert mmlu["apgr"] == pytest.approx(0.625)
    assert mmlu["cpt80_10bin"] == pytest.approx(0.65)
    assert mmlu["n"] == 4 and mmlu["plot"] == "pgr_mmlu.png"
    assert len(mmlu["curve_10bin"]["shares"]) == 11
    assert payload["baselines"]["gsm8k"]["apgr"] == 0.622


def test_metrics_json_is_strict_with_nan(tmp_path: Path) -> None:
    ((m, c),) = _results("x").values()
    nan_auc = RoutingMetrics(**{**m.to_dict(), "auc": float("nan")})
    write_report(tmp_path, {"x": (nan_auc, c)}, title="t")
    text = (tmp_path / "metrics.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    payload = json.loads(text)
    assert payload["benchmarks"]["x"]["auc"] is None
    assert payload["baselines"] is None
    assert "RouteLLM best" not in (tmp_path / "report.md").read_text(encoding="utf-8")
