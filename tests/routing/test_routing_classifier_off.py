"""A disabled classifier is never asked: its thresholds need not fit the loaded artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmtriage.errors import ConfigError
from llmtriage.providers.types import ChatRequest
from llmtriage.routing import parse_routing_config
from llmtriage.routing.router import Router
from llmtriage.scoring.scorer import Scorer
from tests.routing.configs import config_data, deployment


def three_tiers(**classifier: Any) -> dict[str, Any]:
    tiers = [
        {"name": name, "deployments": [deployment(f"{name}-1", f"m-{name}")]}
        for name in ("cheap", "mid", "strong")
    ]
    return config_data(tiers=tiers, rules=[], classifier=classifier)


def test_disabled_classifier_with_a_two_tier_artifact_loads(tiny_artifact: Path) -> None:
    scorer = Scorer.load(tiny_artifact)
    assert len(scorer.thresholds.tiers) == 2  # the config has three: no cut-points to borrow
    router = Router.from_config(parse_routing_config(three_tiers(enabled=False)), scorer)
    request = ChatRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": "Prove it"}]}
    )
    decision = router.decide(request, {})
    assert decision.tier == "cheap" and decision.score is None
    assert decision.reason.value == "default"


def test_enabled_classifier_still_needs_thresholds_that_fit(tiny_artifact: Path) -> None:
    config = parse_routing_config(three_tiers(enabled=True))
    with pytest.raises(ConfigError, match=r"set classifier\.thresholds"):
        Router.from_config(config, Scorer.load(tiny_artifact))
