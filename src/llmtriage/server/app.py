"""The app factory: `create_app(settings)` builds a scoring service; nothing happens at import.

Later layers plug in without editing this file's callers: pass `routers=` (e.g.
the routing/proxy router) and `lifespans=` (async context managers that open and
close their clients, entered after the model is loaded, exited in reverse).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI

from llmtriage.errors import LlmtriageError
from llmtriage.scoring import Scorer
from llmtriage.server.errors import GuardMiddleware, install_error_handlers
from llmtriage.server.metrics import MetricsMiddleware
from llmtriage.server.routes import health, score
from llmtriage.server.settings import ServeSettings, settings_from_env
from llmtriage.server.state import STATE_KEY, AppState, ModelState

logger = logging.getLogger("llmtriage.server")

SELF_TEST_PROMPT = "Prove that the square root of 2 is irrational."
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: ServeSettings,
    *,
    scorer: Scorer | None = None,
    routers: Sequence[APIRouter] = (),
    lifespans: Sequence[Lifespan] = (),
) -> FastAPI:
    """A FastAPI app serving `scorer` (or the artifact at `settings.model`, loaded at start-up)."""
    state = AppState(settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load_model(state, scorer)
        async with AsyncExitStack() as stack:
            for hook in lifespans:
                await stack.enter_async_context(hook(app))
            yield

    app = FastAPI(
        title="llmtriage",
        version=_version(),
        summary="Scores LLM prompts by complexity and routes them to the cheapest good model.",
        lifespan=lifespan,
    )
    setattr(app.state, STATE_KEY, state)
    install_error_handlers(app)
    # Added last = outermost: metrics see the guard's 413s and 500s.
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    for router in (score.router, health.router, *routers):  # hot path matched first
        app.include_router(router)
    return app


def load_model(state: AppState, scorer: Scorer | None = None) -> None:
    """Load (unless given) and self-test the scorer; on failure stay up but not ready.

    Not ready rather than crashed: /healthz keeps answering, /readyz says why with
    a 503, and the orchestrator keeps traffic away. `llmtriage serve` loads the
    artifact before starting the server, so a bad path still fails fast there.
    """
    settings = state.settings
    try:
        scorer = scorer or Scorer.load(settings.model)
        value = scorer.score(SELF_TEST_PROMPT)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"self-test score {value} is outside [0, 1]")
    except (LlmtriageError, OSError, ValueError) as exc:
        state.not_ready_reason = f"model {settings.model} is not usable: {exc}"
        logger.error("not ready: %s", state.not_ready_reason)
        return
    max_chars = scorer.manifest.max_chars
    if settings.max_prompt_chars is not None:
        max_chars = min(max_chars, settings.max_prompt_chars)
    state.model = ModelState(
        scorer=scorer,
        max_chars=max_chars,
        pre_truncate=max_chars < scorer.manifest.max_chars,
        thresholds=scorer.thresholds.model_dump(mode="json"),
        self_test_score=value,
    )
    state.not_ready_reason = ""
    state.metrics.model_info.labels(scorer.model_version).set(1)
    state.metrics.ready.set(1)
    logger.info("ready: model %s, self-test score %.3f", scorer.model_version, value)


def _version() -> str:
    try:
        return version("llmtriage")
    except PackageNotFoundError:
        return "0+unknown"


def create_service(
    settings: ServeSettings,
    *,
    scorer: Scorer | None = None,
    env: Mapping[str, str] | None = None,
) -> FastAPI:
    """The full service: scoring plus the routing proxy (/v1/route, /v1/chat/completions,
    /v1/models) configured by `settings.routing_config` (the packaged default if unset)."""
    from llmtriage.routing import load_routing_config
    from llmtriage.server.routes import proxy

    config = load_routing_config(settings.routing_config)
    state_scorer = _scorer_of
    return create_app(
        settings,
        scorer=scorer,
        routers=[proxy.router],
        lifespans=[
            proxy.routing_lifespan(
                config, env=os.environ if env is None else env, scorer=state_scorer
            )
        ],
    )


def _scorer_of(app: FastAPI) -> Scorer | None:
    state: AppState = getattr(app.state, STATE_KEY)
    return state.model.scorer if state.model else None


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (multi-worker serve): settings from the environment."""
    return create_service(settings_from_env())
