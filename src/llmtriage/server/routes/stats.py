"""`GET /v1/stats`: request, routing, cache, token and cost totals over a recent window.

Read from the shared store, so every replica answers the same (up to the write-behind
period, `stats_flush_s`, of the other replicas' newest counts). With the embedded memory
store, or while Redis is down, the numbers are this replica's own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from llmtriage.server.auth import group
from llmtriage.server.errors import ApiError, error_responses
from llmtriage.server.state import SharedState, request_state
from llmtriage.server.telemetry import stats_view
from llmtriage.store.resilient import FailOpenStore

router = APIRouter(tags=["operations"])


@router.get(
    "/v1/stats",
    openapi_extra=group("stats"),
    responses=error_responses({422: "window_s out of range", 503: "Service starting or stopping"}),
)
async def stats(
    request: Request,
    window_s: Annotated[
        int, Query(ge=1, description="Seconds back from now (whole buckets).")
    ] = 3600,
) -> JSONResponse:
    state = request_state(request)
    shared = _shared(state.shared)
    aggregates = shared.aggregates
    if window_s > aggregates.retention_s:
        raise ApiError(
            f"window_s: at most {aggregates.retention_s} (stats_retention_s)",
            status=422,
            param="window_s",
            code="window_too_long",
        )
    totals = await aggregates.totals(window_s)
    body: dict[str, Any] = {
        "window_s": window_s,
        "bucket_s": aggregates.bucket_s,
        "from": totals.start,
        "to": totals.end,
        "store": store_status(shared),
        **stats_view(totals.fields),
    }
    return JSONResponse(body)


def store_status(shared: SharedState) -> dict[str, Any]:
    """Backend and health: `degraded` means Redis is unreachable and this replica runs on
    local state (still serving)."""
    store = shared.store
    status: dict[str, Any] = {"backend": shared.backend, "degraded": False}
    if isinstance(store, FailOpenStore):
        status["degraded"] = store.degraded
        if store.degraded:
            status["error"] = store.last_error
    return status


def _shared(shared: SharedState | None) -> SharedState:
    if shared is None:
        raise ApiError("the service is starting or stopping", status=503, code="not_ready")
    return shared
