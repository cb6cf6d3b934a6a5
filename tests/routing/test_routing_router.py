"""Router.decide: rules → classifier → tier, with the tiny artifact as classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmtriage.errors import ConfigError
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.decision import Reason
from llmtriage.routing.errors import NoAllowedTier, UnknownModel
from llmtriage.routing.loading import parse_routing_config
from llmtriage.routing.router import Router
from llmtriage.scoring.scorer import Assessment, Scorer
from tests.routing.configs import config_data

SHORT = "What is the capital of France?"
MATHS = (
    "Let f(x) = 3x^3 - 2x^2 + 7x - 5 and g(x) = (x^2 + 1)/(x - 2). Compute (f∘g)'(3), "
    "prove that the integral of f from 0 to 4 exceeds 100, and solve 2^x + 3^x = 5^x for x. "
) * 4


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> Scorer:
    return Scorer.load(tiny_artifact)


def router(scorer: Scorer | None, **overrides: Any) -> Router:
    return Router.from_config(parse_routing_config(config_data(**overrides)), scorer)


def ask(content: str, model: str = "auto", **extra: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    )


def test_classifier_sends_short_prompts_cheap_and_maths_strong(scorer: Scorer) -> None:
    r = router(scorer)
    cheap = r.decide(ask(SHORT), {})
    strong = r.decide(ask(MATHS), {})
    assert (cheap.tier, cheap.deployment, cheap.reason) == ("cheap", "mini", Reason.CLASSIFIER)
    assert (strong.tier, strong.deployment, strong.model) == ("strong", "big", "gpt-big")
    assert cheap.score is not None and cheap.score < 0.5 <= (strong.score or 0)
    assert strong.thresholds == (("strong", 0.5),) and strong.model_version == "tiny-test-1"
    assert strong.to_dict()["thresholds"] == {"strong": 0.5}


def test_scorer_not_called_when_a_rule_decides(
    scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = Scorer.assess

    def counted(self: Scorer, text: str) -> Assessment:
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(Scorer, "assess", counted)
    decision = router(scorer).decide(
        ask(MATHS, tools=[{"type": "function", "function": {"name": "f"}}]), {}
    )
    assert decision.reason is Reason.RULE and decision.rule == "tools" and decision.score is None
    assert decision.model_version is None and calls == []
    router(scorer).decide(ask(SHORT), {})
    assert calls == [SHORT]


def test_forbidden_tier_clamps_the_classifier(scorer: Scorer) -> None:
    decision = router(scorer).decide(ask(MATHS), {"X-User-Tier": "free"})
    assert (decision.tier, decision.reason) == ("cheap", Reason.FORBIDDEN_CLAMP)
    assert decision.forbidden_tiers == ("strong",) and decision.forbid_rules == ("free",)
    assert decision.score is not None and decision.score >= 0.5


def test_forbidden_tier_clamps_rules_and_passthrough(scorer: Scorer) -> None:
    r = router(scorer)
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert r.decide(ask("x", tools=tools), {"x-user-tier": "free"}).tier == "cheap"
    by_name = r.decide(ask("x", model="big"), {"x-user-tier": "free"})
    assert (by_name.tier, by_name.reason) == ("cheap", Reason.FORBIDDEN_CLAMP)


def test_passthrough_by_deployment_tier_and_model_name(scorer: Scorer) -> None:
    r = router(scorer)
    assert (
        r.decide(ask(MATHS, model="mini"), {}).deployment,
        r.decide(ask(MATHS, model="mini"), {}).reason,
    ) == (
        "mini",
        Reason.PASSTHROUGH,
    )
    assert r.decide(ask(SHORT, model="gpt-big"), {}).deployment == "big"
    assert r.decide(ask(SHORT, model="strong"), {}).deployment == "big"
    assert r.decide(ask(SHORT, model="big"), {}).score is None


def test_unknown_model(scorer: Scorer) -> None:
    with pytest.raises(UnknownModel, match="'gpt-5-turbo' does not exist"):
        router(scorer).decide(ask(SHORT, model="gpt-5-turbo"), {})


def test_rules_on_concrete_models(scorer: Scorer) -> None:
    r = router(scorer)
    legacy = r.decide(ask(SHORT, model="legacy"), {})  # an auto name with its own rule
    assert (legacy.tier, legacy.rule) == ("strong", "legacy-big")
    classified = r.decide(ask(MATHS, model="gpt-mini"), {"x-request-type": "auto"})
    assert (classified.tier, classified.reason, classified.rule) == (
        "strong",
        Reason.CLASSIFIER,
        "mini-classified",
    )


def test_route_to_deployment_and_header_lists(scorer: Scorer) -> None:
    r = router(scorer)
    greeting = r.decide(ask("Hello, how are you?"), {})
    assert (greeting.deployment, greeting.reason, greeting.rule) == (
        "mini",
        Reason.RULE,
        "greeting",
    )
    summary = r.decide(ask(MATHS), {"x-feature": "tldr"})
    assert (summary.tier, summary.rule) == ("cheap", "summaries")


def test_deployment_chosen_by_context_window(scorer: Scorer) -> None:
    long = "lorem ipsum " * 500  # ~1500 tokens: above mini's 1000-token window
    decision = router(scorer).decide(ask(long), {"x-feature": "summarise"})
    assert decision.deployment == "mini-long" and decision.estimated_tokens > 1000


def test_deployments_without_keys_are_skipped_when_the_tier_has_others(scorer: Scorer) -> None:
    config = parse_routing_config(config_data())
    r = Router.from_config(config, scorer, unavailable=frozenset({"mini"}))
    assert r.decide(ask(SHORT), {}).deployment == "mini-long"


def test_default_tier_when_classifier_is_off() -> None:
    r = router(None, classifier={"enabled": False}, default_tier="strong")
    decision = r.decide(ask(SHORT), {})
    assert (decision.tier, decision.reason, decision.score) == ("strong", Reason.DEFAULT, None)


def test_classifier_required_unless_disabled() -> None:
    with pytest.raises(ConfigError, match="no classifier artifact"):
        router(None)


def test_rules_that_together_forbid_everything(scorer: Scorer) -> None:
    data = config_data()
    data["rules"].insert(
        0,
        {
            "id": "no-cheap",
            "match": {"headers": {"x-ban": "1"}},
            "action": "forbid_tiers",
            "tiers": ["cheap"],
        },
    )
    r = Router.from_config(parse_routing_config(data), scorer)
    with pytest.raises(NoAllowedTier, match="no-cheap, free"):
        r.decide(ask(SHORT), {"x-ban": "1", "x-user-tier": "free"})
    assert r.decide(ask(SHORT), {"x-ban": "1"}).tier == "strong"
