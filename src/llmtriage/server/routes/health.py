"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from llmtriage.server.auth import group
from llmtriage.server.errors import error_response, error_responses
from llmtriage.server.metrics import CONTENT_TYPE
from llmtriage.server.routes.stats import store_status
from llmtriage.server.state import request_state
from llmtriage.store.resilient import FailOpenStore

router = APIRouter(tags=["operations"])


@router.get("/healthz", openapi_extra=group("health"), responses=error_responses())
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Says nothing about the model."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    openapi_extra=group("health"),
    responses=error_responses({503: "Model not loaded or self-test failed"}),
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the artifact is loaded and scored a self-test prompt at start-up.

    `store` reports the shared store. A degraded store (Redis unreachable) does not make the
    replica unready: it keeps routing, scoring and proxying on local state, and taking every
    replica out of rotation because their shared cache is down would turn a soft outage into
    a hard one. Alert on `store.degraded` / `llmtriage_store_degraded` instead.
    """
    state = request_state(request)
    model = state.model
    if model is None:
        return error_response(state.not_ready_reason, status=503, code="not_ready")
    body: dict[str, Any] = {
        "status": "ready",
        "model_version": model.scorer.model_version,
        "embedder": model.scorer.manifest.embedder.kind,
        "self_test_score": model.self_test_score,
        "max_prompt_chars": model.max_chars,
    }
    if state.shared is not None:
        store = state.shared.store
        if isinstance(store, FailOpenStore):
            # Probe now (bounded by the store's op timeout): without traffic a dead Redis
            # would go unnoticed, and a probe that answers ends a degraded spell at once.
            await store.ping()
        body["store"] = store_status(state.shared)
    return JSONResponse(body)


@router.get(
    "/metrics",
    response_class=Response,
    openapi_extra=group("metrics"),
    responses=error_responses(),
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    return Response(request_state(request).metrics.render(), media_type=CONTENT_TYPE)
