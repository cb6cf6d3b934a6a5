"""The rules engine: each match condition, order, and which requests rules see."""

from __future__ import annotations

from typing import Any

import pytest

from llmtriage.providers.types import ChatRequest
from llmtriage.routing.config import MatchConfig
from llmtriage.routing.loading import parse_routing_config
from llmtriage.routing.rules import MATCHERS, RequestFacts, RuleSet, compile_match
from tests.routing.configs import config_data


def facts(
    content: Any = "hello there", headers: dict[str, str] | None = None, **extra: Any
) -> RequestFacts:
    request = ChatRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": content}], **extra}
    )
    return RequestFacts(request, headers or {})


def holds(match: dict[str, Any], f: RequestFacts) -> bool:
    return all(p(f) for p in compile_match(MatchConfig.model_validate(match)))


def test_every_match_field_has_a_matcher() -> None:
    assert set(MATCHERS) == set(MatchConfig.model_fields)


IMAGE = [
    {"type": "text", "text": "what?"},
    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
]
TOOL = [{"type": "function", "function": {"name": "f", "parameters": {}}}]


@pytest.mark.parametrize(
    ("match", "request_facts", "expected"),
    [
        ({}, facts(), True),
        ({"headers": {"X-Feature": "search"}}, facts(headers={"x-feature": "search"}), True),
        ({"headers": {"x-feature": ["a", "search"]}}, facts(headers={"X-Feature": "search"}), True),
        ({"headers": {"x-feature": "search"}}, facts(headers={"x-feature": "chat"}), False),
        ({"headers": {"x-feature": "search"}}, facts(), False),
        ({"model": ["auto", "x"]}, facts(), True),
        ({"min_tokens": 100}, facts("a" * 400), True),
        ({"min_tokens": 200}, facts("a" * 400), False),
        ({"max_tokens": 10}, facts("short"), True),
        ({"has_tools": True}, facts(tools=TOOL), True),
        ({"has_tools": True}, facts(), False),
        ({"has_tools": False}, facts(), True),
        ({"has_images": True}, facts(IMAGE), True),
        ({"has_images": True}, facts(), False),
        ({"json_mode": True}, facts(response_format={"type": "json_object"}), True),
        (
            {"json_mode": True},
            facts(response_format={"type": "json_schema", "json_schema": {}}),
            True,
        ),
        ({"json_mode": True}, facts(response_format={"type": "text"}), False),
        ({"last_user_regex": r"(?i)\bSQL\b"}, facts("write sql for me"), True),
        ({"last_user_regex": r"\bSQL\b"}, facts("write sql for me"), False),
        ({"has_tools": True, "min_tokens": 1000}, facts(tools=TOOL), False),
    ],
)
def test_match_conditions(
    match: dict[str, Any], request_facts: RequestFacts, expected: bool
) -> None:
    assert holds(match, request_facts) is expected


def test_regex_is_on_the_last_user_turn_only() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "auto",
            "messages": [
                {"role": "user", "content": "translate this"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "thanks"},
            ],
        }
    )
    assert not holds({"last_user_regex": "translate"}, RequestFacts(request, {}))


def rules() -> RuleSet:
    return RuleSet(parse_routing_config(config_data()).rules)


def test_first_routing_match_wins_and_forbid_falls_through() -> None:
    outcome = rules().evaluate(facts("hello", {"x-user-tier": "free"}, tools=TOOL), auto=True)
    assert outcome.rule == "tools" and outcome.tier == "strong"
    assert outcome.forbidden == {"strong"} and outcome.forbid_rules == ("free",)


def test_no_match_leaves_the_choice_open() -> None:
    outcome = rules().evaluate(facts("what is 2+2"), auto=True)
    assert outcome.rule is None and outcome.tier is None and not outcome.forbidden


def test_concrete_models_see_only_forbid_and_model_rules() -> None:
    request = ChatRequest.model_validate(
        {"model": "gpt-mini", "messages": [{"role": "user", "content": "hi"}], "tools": TOOL}
    )
    free = RequestFacts(request, {"x-user-tier": "free"})
    outcome = rules().evaluate(free, auto=False)
    assert outcome.rule is None and outcome.forbidden == {"strong"}
    classify = rules().evaluate(RequestFacts(request, {"x-request-type": "auto"}), auto=False)
    assert classify.rule == "mini-classified" and classify.classify


def test_forbid_rules_apply_wherever_they_stand() -> None:
    data = config_data()
    data["rules"].append(
        {
            "id": "late-ban",
            "match": {"has_tools": True},
            "action": "forbid_tiers",
            "tiers": ["strong"],
        }
    )
    outcome = RuleSet(parse_routing_config(data).rules).evaluate(facts(tools=TOOL), auto=True)
    assert outcome.rule == "tools" and outcome.tier == "strong"
    assert outcome.forbidden == {"strong"} and outcome.forbid_rules == ("late-ban",)
