"""The pairwise judge's parsing and order combination, the shadow budget, the other tier,
and the shadow block's validation at load."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmtriage.errors import ConfigError
from llmtriage.learning.judge import (
    DEFAULT_TEMPLATE,
    Preference,
    load_template,
    parse_verdict,
    render,
    routed_score,
)
from llmtriage.learning.shadow import Budget, other_tier
from llmtriage.routing import load_routing_config
from llmtriage.routing.catalog import Catalog

A, B, TIE = Preference.A, Preference.B, Preference.TIE


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("A", A),
        ("b", B),
        ("Tie", TIE),
        ("tie.", TIE),
        ("Verdict: B", B),
        ("**A**", A),
        ("Answer B is more complete.\n\nB", B),
        ("", None),
        ("A or B", None),
        ("Both are fine", None),
        ("B is better", None),
        ("C", None),
    ],
)
def test_only_a_strict_verdict_is_read(reply: str, verdict: Preference | None) -> None:
    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize(
    ("routed_first", "shadow_first", "score"),
    [
        (A, B, 1.0),  # the routed answer won in both orders
        (B, A, 0.0),  # lost in both
        (TIE, TIE, 0.5),
        (A, A, 0.5),  # always the first shown: position bias, cancelled to a tie
        (B, B, 0.5),
        (A, TIE, 0.5),  # any disagreement is a tie
        (TIE, A, 0.5),
    ],
)
def test_both_orders_combine_and_disagreement_is_a_tie(
    routed_first: Preference, shadow_first: Preference, score: float
) -> None:
    assert routed_score(routed_first, shadow_first) == score


def test_render_replaces_placeholders_once_and_leaves_other_braces() -> None:
    text = render("Q={question} A={answer_a} B={answer_b} {json}", "q", "{answer_b}", "b")
    assert text == "Q=q A={answer_b} B=b {json}"
    for placeholder in ("{question}", "{answer_a}", "{answer_b}"):
        assert placeholder in DEFAULT_TEMPLATE


def test_a_template_file_must_hold_every_placeholder(tmp_path: Path) -> None:
    good = tmp_path / "judge.txt"
    good.write_text("Which is better for {question}? 1: {answer_a} 2: {answer_b}. A, B or tie")
    assert load_template(good) == good.read_text()
    assert load_template(None) == DEFAULT_TEMPLATE
    bad = tmp_path / "bad.txt"
    bad.write_text("{question} {answer_a}")
    with pytest.raises(ConfigError, match=r"missing \{answer_b\}"):
        load_template(bad)


def test_budget_caps_requests_a_minute_and_usd_a_day() -> None:
    now = {"mono": 0.0, "wall": 86400.0 * 10 + 5}
    budget = Budget(3, Decimal("0.01"), monotonic=lambda: now["mono"], wall=lambda: now["wall"])
    assert [budget.take() for _ in range(4)] == [None, None, None, "budget_rpm"]
    now["mono"] += 20.0  # 3 a minute: one more after 20 s
    assert [budget.take(), budget.take()] == [None, "budget_rpm"]
    budget.refund()
    assert budget.take() is None
    now["mono"] += 600.0  # refills to the cap, not beyond
    budget.spend(Decimal("0.004"))
    budget.spend(Decimal("0.006"))
    assert budget.take() == "budget_usd" and budget.spent_today == Decimal("0.010")
    now["wall"] += 86400.0  # the next UTC day starts from zero
    assert budget.spent_today == 0
    assert [budget.take() for _ in range(4)] == [None, None, None, "budget_rpm"]


ROUTING = """\
tiers:
  - name: cheap
    deployments:
      - {name: mini, provider: openai, model: m, input_price_per_mtok: 1,
         output_price_per_mtok: 1, context_window: 1000}
  - name: mid
    deployments:
      - {name: medium, provider: openai, model: md, input_price_per_mtok: 1,
         output_price_per_mtok: 1, context_window: 1000}
  - name: strong
    deployments:
      - {name: big, provider: openai, model: b, input_price_per_mtok: 1,
         output_price_per_mtok: 1, context_window: 1000}
shadow: SHADOW
"""


def _config(tmp_path: Path, shadow: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING.replace("SHADOW", shadow))
    return path


def test_the_other_tier_is_the_cheapest_allowed_or_the_strongest(tmp_path: Path) -> None:
    catalog = Catalog(load_routing_config(_config(tmp_path, "{}")))
    assert other_tier(catalog, "cheap", ()) == "strong"
    assert other_tier(catalog, "strong", ()) == "cheap"
    assert other_tier(catalog, "mid", ()) == "cheap"
    assert other_tier(catalog, "strong", ("cheap",)) == "mid"
    assert other_tier(catalog, "cheap", ("mid", "strong")) is None


@pytest.mark.parametrize(
    ("shadow", "message"),
    [
        ("{fraction: 0.1}", "shadow.judge: shadow comparisons need a judge deployment"),
        ("{fraction: 0.1, judge: nobody}", "unknown deployment 'nobody'"),
        ("{routers: {other: 0.1}, judge: big}", "'other' is not an auto model name"),
        ("{fraction: 0.1, judge: big, template: missing.txt}", "no judge prompt template"),
        ("{fraction: 1.5, judge: big}", "less than or equal to 1"),
    ],
)
def test_the_shadow_block_is_checked_at_load(tmp_path: Path, shadow: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"routing\.yaml") as caught:
        load_routing_config(_config(tmp_path, shadow))
    assert message in str(caught.value)


def test_a_template_path_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "judge.txt").write_text("{question} {answer_a} {answer_b}")
    config = load_routing_config(
        _config(tmp_path, "{fraction: 0.05, judge: big, template: judge.txt}")
    )
    assert config.shadow.active and config.shadow_template_path() == tmp_path / "judge.txt"
