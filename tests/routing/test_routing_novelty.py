"""classifier.on_novel: what the router does with a prompt unlike the scorer's training
data, and how novelty shows in the decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmtriage.errors import ConfigError
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.decision import Reason
from llmtriage.routing.loading import parse_routing_config
from llmtriage.routing.router import Router
from llmtriage.scoring.scorer import Assessment, Scorer
from llmtriage.server.routes.proxy import decision_headers
from tests.artifacts import make_tiny_artifact
from tests.routing.configs import config_data

FAMILIAR = "What is the capital of France?"
STRANGE = "zxqv wobble frumious bandersnatch quux"


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    path = make_tiny_artifact(tmp_path_factory.mktemp("novel"), familiar=(FAMILIAR,))
    return Scorer.load(path)


def router(scorer: Scorer, **classifier: Any) -> Router:
    data = config_data(classifier={"enabled": True, **classifier})
    return Router.from_config(parse_routing_config(data), scorer)


def ask(text: str) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": text}]}
    )


def test_novelty_is_measured_and_flagged(scorer: Scorer) -> None:
    familiar, strange = scorer.assess(FAMILIAR), scorer.assess(STRANGE)
    assert familiar.novelty is not None and familiar.novelty < 0.01 and not familiar.novel
    assert strange.novelty is not None and strange.novelty > 0.5 and strange.novel


def test_default_action_routes_by_score_and_reports_novelty(scorer: Scorer) -> None:
    decision = router(scorer).decide(ask(STRANGE), {})
    assert decision.reason is Reason.CLASSIFIER and decision.novel
    assert decision.to_dict()["novelty"] == pytest.approx(scorer.assess(STRANGE).novelty)


def test_tier_action_sends_novel_prompts_to_that_tier_only(scorer: Scorer) -> None:
    r = router(scorer, on_novel="tier strong")
    strange, familiar = r.decide(ask(STRANGE), {}), r.decide(ask(FAMILIAR), {})
    assert (strange.tier, strange.reason, strange.novel) == ("strong", Reason.NOVEL, True)
    assert familiar.reason is Reason.CLASSIFIER and familiar.tier == "cheap"


def test_cached_novelty_gives_the_same_decision(scorer: Scorer) -> None:
    r = router(scorer, on_novel="tier strong")
    fresh = r.decide(ask(STRANGE), {})
    cached = r.decide(ask(STRANGE), {}, known=Assessment(fresh.score, fresh.novelty))
    assert (cached.tier, cached.reason) == (fresh.tier, fresh.reason)


def test_cascade_action_tries_the_cheap_tier_first(scorer: Scorer) -> None:
    data = config_data(
        classifier={"enabled": True, "on_novel": "cascade"},
        cascade={"enabled": True, "cheap_tier": "cheap", "strong_tier": "strong"},
    )
    decision = Router.from_config(parse_routing_config(data), scorer).decide(ask(STRANGE), {})
    assert decision.tier == "strong" and decision.cascade and decision.reason is Reason.NOVEL


@pytest.mark.parametrize(
    ("on_novel", "message"),
    [
        ("tier nowhere", "unknown tier 'nowhere'"),
        ("escalate", "on_novel must be"),
        ("cascade", "cascade.enabled"),
    ],
)
def test_bad_actions_are_refused_at_start_up(on_novel: str, message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        parse_routing_config(config_data(classifier={"enabled": True, "on_novel": on_novel}))


def test_artifact_without_novelty_never_flags(tiny_artifact: Path) -> None:
    decision = router(Scorer.load(tiny_artifact), on_novel="tier strong").decide(ask(STRANGE), {})
    assert decision.novelty is None and not decision.novel and decision.reason is Reason.CLASSIFIER


def test_headers_carry_novelty(scorer: Scorer) -> None:
    headers = decision_headers(router(scorer).decide(ask(STRANGE), {}))
    assert headers["x-llmtriage-novelty"].endswith("; novel")
    plain = decision_headers(router(scorer).decide(ask(FAMILIAR), {}))
    assert "novel" not in plain["x-llmtriage-novelty"]
