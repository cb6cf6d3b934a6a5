"""Selection: best LOTO mean, and a gap smaller than its noise is a tie broken in
distribution."""

from __future__ import annotations

from llmtriage_train.generalisation.cli import with_loto_section
from llmtriage_train.generalisation.evaluation import SourceScore
from llmtriage_train.generalisation.loto import LotoResult, TaskResult
from llmtriage_train.generalisation.selection import select


def _result(name: str, per_task: list[float], in_dist: float) -> LotoResult:
    tasks = {
        f"t{i}": TaskResult(10, {"s": SourceScore(v, v, 1, 10)}) for i, v in enumerate(per_task)
    }
    return LotoResult(
        name, tasks, {"x": TaskResult(10, {"s": SourceScore(in_dist, in_dist, 1, 10)})}
    )


def test_clear_loto_winner_wins_whatever_its_in_distribution_figure() -> None:
    a = _result("a", [0.60, 0.61, 0.59, 0.60], in_dist=0.5)
    b = _result("b", [0.50, 0.51, 0.49, 0.50], in_dist=0.9)
    assert select([a, b])[0].name == "a"


def test_noisy_gap_is_a_tie_and_in_distribution_breaks_it() -> None:
    a = _result("a", [0.55, 0.45, 0.56, 0.46], in_dist=0.5)
    b = _result("b", [0.50, 0.50, 0.50, 0.50], in_dist=0.7)
    winner, ties = select([a, b])
    assert sorted(ties) == ["a", "b"] and winner.name == "b"


def test_report_gets_one_loto_section_and_keeps_the_rest() -> None:
    report = "# Scorer x\n\nRecipe: r\n\n## Held out\n\ntable\n"
    once = with_loto_section(report, "| t | 0.51 |")
    twice = with_loto_section(once, "| t | 0.52 |")
    assert once.startswith("# Scorer x\n\n<!--") and "## Held out" in once
    assert twice.count("## Leave-one-task-out") == 1 and "0.52" in twice and "0.51" not in twice
    assert twice.endswith("## Held out\n\ntable\n")
