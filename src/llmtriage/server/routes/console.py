"""`/console` and the `/v1/stats/...` JSON it polls (the page and scripts read the same).

The page and its two static files are in the `docs` group (open by default: they hold
no data); every data endpoint is in `stats` (an admin key by default), which the page
sends as a bearer token, entered once and kept in the tab's sessionStorage.

Everything is read from the shared aggregates (console/feed.py's fields), so every
replica's console shows the whole fleet; the latest-decisions table reads the decision
log when one is configured, else this replica's own ring. Nothing here changes anything:
the what-if only computes.
"""

from __future__ import annotations

import json
import time
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from llmtriage.console.feed import SCORE_ROUTER, name_part
from llmtriage.console.views import (
    ALL,
    WINDOWS,
    BucketReader,
    DecisionRow,
    DecisionsView,
    DeploymentsView,
    Price,
    Pricing,
    QualityCurve,
    ScoresView,
    StoreStatus,
    Threshold,
    TrafficView,
    WhatIfView,
    Window,
    WindowData,
    artifact_quality,
    deployments_view,
    router_fields,
    routers_in,
    scores_view,
    traffic_view,
    whatif,
)
from llmtriage.learning.record import DecisionRecord
from llmtriage.learning.store import DecisionStore
from llmtriage.server.auth import group
from llmtriage.server.errors import ApiError, error_responses
from llmtriage.server.routes.stats import store_status
from llmtriage.server.state import AppState, SharedState, request_state
from llmtriage.server.telemetry import baseline_deployment
from llmtriage.service import RoutingService
from llmtriage.store.errors import StoreUnavailable

router = APIRouter(tags=["console"])

STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
# The page runs only its own script and style, talks only to this origin, is never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
WindowQuery = Annotated[Window, Query(description="How far back: 15m, 1h or 1d.")]
RouterQuery = Annotated[
    str, Query(max_length=200, description="A router (the model name asked for) or `all`.")
]
STATS_ERRORS = error_responses(
    {422: "A bad window, router, tier or threshold", 503: "Service starting or stopping"}
)
READER_KEY = "console_reader"


@cache
def _asset(name: str) -> bytes:
    return files("llmtriage.console").joinpath("static", name).read_bytes()


@router.get("/console", openapi_extra=group("docs"), include_in_schema=False)
async def console_page() -> Response:
    return Response(
        _asset("console.html"),
        media_type="text/html; charset=utf-8",
        headers={"cache-control": "no-cache", "content-security-policy": CSP},
    )


@router.get("/console/static/{name}", openapi_extra=group("docs"), include_in_schema=False)
async def console_static(name: str) -> Response:
    media = STATIC.get(name)
    if media is None:
        raise ApiError(f"no console file {name!r}", status=404, code="not_found")
    return Response(_asset(name), media_type=media, headers={"cache-control": "no-cache"})


@router.get(
    "/v1/stats/traffic",
    openapi_extra=group("stats"),
    response_model=TrafficView,
    responses=STATS_ERRORS,
)
async def stats_traffic(
    request: Request, window: WindowQuery = "1h", router: RouterQuery = ALL
) -> JSONResponse:
    """Requests and tier shares over time, cost and savings with the prices used,
    novelty rate and cascade verdicts, for one router or all."""
    _, shared = _ready(request)
    data = await _read(request, window)
    view = traffic_view(data, window=window, router=router, pricing=_pricing(request))
    view.store = StoreStatus.model_validate(store_status(shared))
    return JSONResponse(view.model_dump(mode="json", by_alias=True))


@router.get(
    "/v1/stats/scores",
    openapi_extra=group("stats"),
    response_model=ScoresView,
    responses=STATS_ERRORS,
)
async def stats_scores(
    request: Request, window: WindowQuery = "1h", router: RouterQuery = ALL
) -> JSONResponse:
    """The score histogram of classifier-routed requests with the thresholds in force,
    and what the what-if needs (fixed decisions, cost per request per tier, quality
    curve). `all`: the router with the most scores."""
    view = await _scores(request, window, router)
    return JSONResponse(view.model_dump(mode="json", by_alias=True))


@router.get(
    "/v1/stats/whatif",
    openapi_extra=group("stats"),
    response_model=WhatIfView,
    responses=STATS_ERRORS,
)
async def stats_whatif(
    request: Request,
    threshold: Annotated[float, Query(ge=0.0, le=1.0, description="The new minimum score.")],
    window: WindowQuery = "1h",
    router: RouterQuery = ALL,
    tier: Annotated[
        str | None, Query(max_length=200, description="Whose threshold (default: the top tier).")
    ] = None,
) -> JSONResponse:
    """Projected tier shares, cost per 1,000 requests and quality with one threshold
    moved, on this window's traffic; the YAML to set it. Changes nothing."""
    scores = await _scores(request, window, router)
    if not scores.thresholds:
        raise ApiError(
            f"router {scores.router!r} has no classifier thresholds",
            status=422,
            param="router",
            code="no_thresholds",
        )
    chosen = tier if tier is not None else scores.thresholds[-1].tier
    try:
        view = whatif(scores, tier=chosen, threshold=threshold)
    except ValueError as exc:
        raise ApiError(str(exc), status=422, param="tier", code="unknown_tier") from exc
    return JSONResponse(view.model_dump(mode="json", by_alias=True))


@router.get(
    "/v1/stats/deployments",
    openapi_extra=group("stats"),
    response_model=DeploymentsView,
    responses=STATS_ERRORS,
)
async def stats_deployments(request: Request, window: WindowQuery = "1h") -> JSONResponse:
    """Per deployment: calls, failures by kind, retries, fallbacks away from it, breaker
    skips, the breaker's state now (shared store) and latency percentiles per call."""
    _, shared = _ready(request)
    data = await _read(request, window)
    service = _service(request)
    known: list[tuple[str, str]] = []
    if service is not None:
        known = [(d.name, t.name) for t in service.config.tiers for d in t.deployments]
    breakers = {}
    for name, _ in known:
        breakers[name_part(name)] = await _breaker(shared, name)
    view: DeploymentsView = deployments_view(
        data, window=window, known=[(name_part(d), t) for d, t in known], breakers=breakers
    )
    return JSONResponse(view.model_dump(mode="json", by_alias=True))


@router.get(
    "/v1/stats/decisions",
    openapi_extra=group("stats"),
    response_model=DecisionsView,
    responses=STATS_ERRORS,
)
async def stats_decisions(
    request: Request,
    router: RouterQuery = ALL,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSONResponse:
    """The latest answered requests, newest first; prompt text only when the decision
    log stores prompts (`decision_log.log_prompts`)."""
    _, shared = _ready(request)
    telemetry = shared.telemetry
    log = telemetry.decision_log
    view: DecisionsView | None = None
    if log is not None and log.store is not None:
        view = await _logged(log.store, log.log_prompts, router, limit)
    if view is None:
        rows = [
            DecisionRow(**{k: getattr(r, k) for k in r.__slots__})
            for r in reversed(telemetry.console.recent)
            if router == ALL or r.router == router
        ]
        view = DecisionsView(source="recent", prompts_logged=False, decisions=rows[:limit])
    return JSONResponse(view.model_dump(mode="json", by_alias=True))


# ----------------------------------------------------------------------------- helpers


def _ready(request: Request) -> tuple[AppState, SharedState]:
    state = request_state(request)
    if state.shared is None:
        raise ApiError("the service is starting or stopping", status=503, code="not_ready")
    return state, state.shared


async def _read(request: Request, window: Window) -> WindowData:
    state, shared = _ready(request)
    app = request.app
    aggregates = shared.aggregates
    window_s = WINDOWS[window]
    if window_s > aggregates.retention_s:
        raise ApiError(
            f"window: {window} is longer than the {aggregates.retention_s} s kept "
            "(stats_retention_s)",
            status=422,
            param="window",
            code="window_too_long",
        )
    # One reader per app, for the aggregates of its current lifespan (tests reopen them).
    reader: BucketReader | None = getattr(app.state, READER_KEY, None)
    if reader is None or reader.aggregates is not aggregates:
        # Settled: every replica has flushed a bucket twice over after it ended.
        settle = 2 * state.settings.stats_flush_s + 1.0
        reader = BucketReader(aggregates, settle_s=settle)
        setattr(app.state, READER_KEY, reader)
    return await reader.read(window_s)


def _service(request: Request) -> RoutingService | None:
    service = getattr(request.app.state, "routing", None)
    return service if isinstance(service, RoutingService) else None


def _pricing(request: Request) -> Pricing:
    service = _service(request)
    if service is None:
        return Pricing(tiers=(), prices=(), baseline=None)
    config = service.config
    prices = tuple(
        Price(
            tier=t.name,
            deployment=d.name,
            input_per_mtok=float(d.input_price_per_mtok),
            output_per_mtok=float(d.output_price_per_mtok),
        )
        for t in config.tiers
        for d in t.deployments
    )
    return Pricing(
        tiers=tuple(config.tier_names), prices=prices, baseline=baseline_deployment(config).name
    )


async def _scores(request: Request, window: Window, router: str) -> ScoresView:
    state, _ = _ready(request)
    data = await _read(request, window)
    if router == ALL:
        router = _busiest_scored(data)
    tiers: list[str] = []
    cuts: list[Threshold] = []
    quality = QualityCurve(source="none", note="no classifier loaded", points=[])
    model = state.model
    if model is not None:
        manifest = model.scorer.manifest
        quality = artifact_quality(manifest.thresholds.operating_points, manifest.metrics)
    service = _service(request)
    if router == SCORE_ROUTER:
        if model is not None:
            own = model.scorer.thresholds
            tiers = list(own.tiers)
            cuts = [
                Threshold(tier=t, cutpoint=c)
                for t, c in zip(own.tiers[1:], own.cutpoints, strict=True)
            ]
        pricing = Pricing(tiers=tuple(tiers), prices=(), baseline=None)
    else:
        pricing = _pricing(request)
        tiers = list(pricing.tiers)
        classifier = service.router.classifier if service is not None else None
        if classifier is not None:
            cuts = [Threshold(tier=t, cutpoint=c) for t, c in classifier.thresholds]
    return scores_view(
        data,
        window=window,
        router=router,
        tiers=tiers,
        thresholds=cuts,
        pricing=pricing,
        quality=quality,
    )


def _busiest_scored(data: WindowData) -> str:
    totals = data.totals()
    best, most = SCORE_ROUTER, 0.0
    for name in routers_in(totals):
        scored = sum(v for k, v in router_fields(totals, name).items() if k.startswith("s|"))
        if scored > most:
            best, most = name, scored
    return best


async def _breaker(shared: SharedState, deployment: str) -> tuple[str, float | None]:
    """The breaker's state as fallback/breaker.py keeps it: absent = closed, else
    {"s": "open" | "half_open", "until": t}."""
    try:
        raw = await shared.store.get(shared.keys.breaker_state(deployment))
    except StoreUnavailable:  # only without the fail-open wrapper
        return "unknown", None
    if raw is None:
        return "closed", None
    try:
        value: dict[str, Any] = json.loads(raw)
        until = float(value.get("until", 0.0))
        state = str(value.get("s", "closed"))
    except (ValueError, TypeError, AttributeError):
        return "unknown", None
    if state != "closed" and until and until < time.time():
        state = "half_open"  # its cooldown is over: the next call is the probe
    return state, until or None


async def _logged(
    store: DecisionStore, prompts: bool, router: str, limit: int
) -> DecisionsView | None:
    """The newest rows of the decision log (the last minute, else the last 15); None when
    its store fails (the ring answers instead)."""
    now = time.time()
    rows: list[DecisionRecord] = []
    try:
        for back in (60.0, 900.0):
            rows = [
                r.record
                for r in await store.fetch(since=now - back)
                if router == ALL or r.record.router == router
            ]
            if len(rows) >= limit:
                break
    except StoreUnavailable:  # the log's store is down (DecisionStoreError): the ring answers
        return None
    rows.sort(key=lambda r: r.ts, reverse=True)
    return DecisionsView(
        source="decision_log",
        prompts_logged=prompts,
        decisions=[
            DecisionRow(
                id=r.decision_id,
                ts=r.ts,
                router=r.router,
                reason=r.reason,
                tier=r.tier,
                rule=r.rule,
                score=r.score,
                deployment=r.deployment,
                outcome=r.outcome,
                latency_ms=r.latency_ms,
                cost_usd=r.cost_usd,
                prompt=r.prompt if prompts else None,
            )
            for r in rows[:limit]
        ],
    )
