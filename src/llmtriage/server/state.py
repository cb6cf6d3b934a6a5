"""Typed per-app state, kept on `app.state.llmtriage` (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import FastAPI, Request

from llmtriage.scoring import Scorer
from llmtriage.server.metrics import Metrics
from llmtriage.server.settings import ServeSettings
from llmtriage.server.telemetry import Telemetry
from llmtriage.store.aggregates import Aggregates
from llmtriage.store.base import Store
from llmtriage.store.decision_cache import CacheScope, DecisionCache
from llmtriage.store.keys import KeySpace

STATE_KEY = "llmtriage"


@dataclass
class ModelState:
    """What the score routes need, fixed once the artifact is loaded."""

    scorer: Scorer
    max_chars: int  # effective truncation limit: min(setting, artifact)
    # True when the setting is below the artifact's limit, so the web layer cuts first
    # (otherwise the scorer cuts, exactly as in-process `Scorer.score` does).
    pre_truncate: bool
    thresholds: dict[str, Any]  # pre-dumped once: the same in every response
    self_test_score: float
    # Decision-cache scope of /v1/score: the score depends on the artifact and on the
    # truncation limit, the tier on the thresholds.
    cache_scope: CacheScope


@dataclass
class SharedState:
    """The store and what is built on it, opened and closed by the app's lifespan.

    `store` is a MemoryStore (no redis_url: the embedded default, per replica) or a
    FailOpenStore over Redis (shared by every replica, local memory while Redis is down).
    """

    store: Store
    backend: str  # "memory" | "redis"
    keys: KeySpace
    aggregates: Aggregates
    telemetry: Telemetry
    cache: DecisionCache | None  # None: cache_ttl_s is 0


@dataclass
class AppState:
    settings: ServeSettings
    metrics: Metrics = field(default_factory=Metrics)
    model: ModelState | None = None
    shared: SharedState | None = None  # set while the lifespan runs
    not_ready_reason: str = "starting: the model is not loaded yet"

    @property
    def ready(self) -> bool:
        return self.model is not None


def app_state(app: FastAPI) -> AppState:
    return cast(AppState, getattr(app.state, STATE_KEY))


def request_state(request: Request) -> AppState:
    return cast(AppState, getattr(request.app.state, STATE_KEY))


def request_telemetry(request: Request) -> Telemetry | None:
    """The app's telemetry; None in apps built without `create_app` (proxy-only tests)."""
    state = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(state, AppState) or state.shared is None:
        return None
    return state.shared.telemetry
