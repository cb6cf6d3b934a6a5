"""Loading the served model, at start-up (app.load_model) and on reload (routes/admin.py).

`prepare_model` loads and self-tests an artifact into the ModelState the score routes
read, raising for one that is not usable; `install_model` makes it the current one in a
single reference assignment, so a request that already read the previous ModelState
finishes on it. `routing_swap` does the same for the routing service's classifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

from llmtriage.routing.router import TierClassifier, config_thresholds
from llmtriage.scoring import Scorer
from llmtriage.server.settings import ServeSettings
from llmtriage.server.state import AppState, ModelState
from llmtriage.service import RoutingService
from llmtriage.store.decision_cache import CacheScope

logger = logging.getLogger("llmtriage.server")

SELF_TEST_PROMPT = "Prove that the square root of 2 is irrational."


def _digest(data: object) -> str:
    """Short stable hash of JSON-able settings (as app._digest), for the cache scope."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prepare_model(
    settings: ServeSettings, scorer: Scorer | None = None, path: str | Path | None = None
) -> ModelState:
    """What the score routes read for `scorer` (else the artifact at `path`, else at
    `settings.model`), once it scored the self-test prompt in [0, 1]. Raises
    LlmtriageError, OSError or ValueError for an artifact that is not usable."""
    scorer = scorer or Scorer.load(path or settings.model)
    value = scorer.score(SELF_TEST_PROMPT)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"self-test score {value} is outside [0, 1]")
    max_chars = scorer.manifest.max_chars
    if settings.max_prompt_chars is not None:
        max_chars = min(max_chars, settings.max_prompt_chars)
    thresholds = scorer.thresholds.model_dump(mode="json")
    return ModelState(
        scorer=scorer,
        max_chars=max_chars,
        pre_truncate=max_chars < scorer.manifest.max_chars,
        thresholds=thresholds,
        self_test_score=value,
        cache_scope=CacheScope(
            "score", scorer.model_version, _digest({"thresholds": thresholds, "max": max_chars})
        ),
    )


def install_model(state: AppState, model: ModelState) -> None:
    """Make `model` the one new requests read (the readiness and model-info metrics too)."""
    previous = state.model
    state.model = model
    state.not_ready_reason = ""
    version = model.scorer.model_version
    if previous is not None and previous.scorer.model_version != version:
        state.metrics.model_info.labels(previous.scorer.model_version).set(0)
    state.metrics.model_info.labels(version).set(1)
    state.metrics.ready.set(1)
    logger.info("ready: model %s, self-test score %.3f", version, model.self_test_score)


def routing_swap(service: RoutingService, scorer: Scorer) -> Callable[[], None]:
    """The routing service's classifier and score-cache scope for `scorer`, built before
    anything changes (ConfigError when the config cannot map the artifact's tiers), and
    the function that installs both (synchronous: no request sees half of it)."""
    old = service.router.classifier
    classifier = TierClassifier(scorer, config_thresholds(service.config, scorer)) if old else None
    cache = service.score_cache
    if cache is not None:  # the old model's cached scores are not the new one's
        scope = dataclasses.replace(cache.scope, model_version=scorer.model_version)
        cache = dataclasses.replace(cache, scope=scope)

    def install() -> None:
        service.router.classifier = classifier
        service.score_cache = cache

    return install
