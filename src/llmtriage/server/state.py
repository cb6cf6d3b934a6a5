"""Typed per-app state, kept on `app.state.llmtriage` (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import FastAPI, Request

from llmtriage.scoring import Scorer
from llmtriage.server.metrics import Metrics
from llmtriage.server.settings import ServeSettings

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


@dataclass
class AppState:
    settings: ServeSettings
    metrics: Metrics = field(default_factory=Metrics)
    model: ModelState | None = None
    not_ready_reason: str = "starting: the model is not loaded yet"

    @property
    def ready(self) -> bool:
        return self.model is not None


def app_state(app: FastAPI) -> AppState:
    return cast(AppState, getattr(app.state, STATE_KEY))


def request_state(request: Request) -> AppState:
    return cast(AppState, getattr(request.app.state, STATE_KEY))
