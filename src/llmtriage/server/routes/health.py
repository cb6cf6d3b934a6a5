"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from llmtriage.server.errors import error_response
from llmtriage.server.metrics import CONTENT_TYPE
from llmtriage.server.state import request_state

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Says nothing about the model."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Model not loaded or self-test failed"}})
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the artifact is loaded and scored a self-test prompt at start-up."""
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
    return JSONResponse(body)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    return Response(request_state(request).metrics.render(), media_type=CONTENT_TYPE)
