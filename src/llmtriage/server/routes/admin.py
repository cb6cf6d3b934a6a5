"""`POST /v1/admin/reload`: swap the served model for another artifact without a restart.

The new artifact (body `{"model": PATH}`, else the configured `model`) is loaded and
self-tested off the event loop, exactly as at start-up (model_swap.prepare_model). Only then is
anything swapped, in one step on the event loop (no await between the assignments, so no
request sees half a swap): `AppState.model`, which /v1/score reads once per request, and,
when the app routes, the routing service's classifier and the scope of its score cache
(scores of the old model are not served as the new one's). A request that already read
the old model finishes on it. An artifact that fails to load or self-test, or whose tiers
the routing config cannot map, is a 422 with the error body, and the old model keeps
serving. Admin group: an admin key whenever keys are configured (server/auth.py).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from llmtriage.errors import LlmtriageError
from llmtriage.server.auth import group
from llmtriage.server.errors import ApiError, error_responses
from llmtriage.server.model_swap import install_model, prepare_model, routing_swap
from llmtriage.server.state import request_state
from llmtriage.service import RoutingService

router = APIRouter(tags=["operations"])
LOCK_KEY = "llmtriage_reload_lock"  # on app.state: one reload at a time


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        default=None, min_length=1, description="artifact folder (default: the configured one)"
    )


@router.post(
    "/v1/admin/reload",
    openapi_extra=group("admin", {"model": "models/adapted"}),
    responses=error_responses({422: "The artifact is not usable; the old model keeps serving"}),
)
async def reload(request: Request, body: ReloadRequest | None = None) -> JSONResponse:
    """Load, self-test and swap in an artifact; in-flight requests finish on the old one."""
    state = request_state(request)
    lock = getattr(request.app.state, LOCK_KEY, None)
    if lock is None:
        lock = asyncio.Lock()
        setattr(request.app.state, LOCK_KEY, lock)
    path = (body.model if body else None) or state.settings.model
    async with lock:
        try:
            model = await asyncio.to_thread(prepare_model, state.settings, None, path)
            service = getattr(request.app.state, "routing", None)
            swap = (
                routing_swap(service, model.scorer) if isinstance(service, RoutingService) else None
            )
        except (LlmtriageError, OSError, ValueError) as exc:
            raise ApiError(
                f"model {path} is not usable: {exc}",
                status=422,
                param="model",
                code="model_not_usable",
            ) from exc
        previous = state.model.scorer.model_version if state.model else None
        install_model(state, model)  # no await from here on: one step for every request
        if swap is not None:
            swap()
    manifest = model.scorer.manifest
    return JSONResponse(
        {
            "model_version": model.scorer.model_version,
            "previous_model_version": previous,
            "path": str(path),
            "self_test_score": model.self_test_score,
            "routing": swap is not None,
            "lineage": manifest.lineage.model_dump(mode="json") if manifest.lineage else None,
        }
    )
