"""OpenAI-compatible proxy: `POST /v1/chat/completions`, `POST /v1/route`, `GET /v1/models`.

Handlers take the `RoutingService` from `app.state.routing`. Every response of a
routed request explains the decision in headers:

    x-llmtriage-tier, x-llmtriage-deployment, x-llmtriage-model: what really answered
                        (after any fallback); x-llmtriage-reason: why the router chose
    x-llmtriage-score   classifier score, 4 decimals (absent when nothing was scored)
    x-llmtriage-novelty how unlike the scorer's training data the prompt is, 4 decimals, with
                        `; novel` when above the artifact's threshold (absent when not scored)
    x-llmtriage-rule    id of the rule that routed (absent when none did)
    x-llmtriage-cost    USD from usage and the deployment's prices (whole answers only)
    x-llmtriage-attempts   upstream calls made for this request, retries included
    x-llmtriage-fallbacks  deployments that did not answer, in chain order, each with what
                        went wrong: `mini=server,mini-2=breaker_open` (absent when none)
    x-llmtriage-cascade    `accepted` (the cheap tier's answer was served) or `escalated`
                        (the strong tier answered too); absent when the cascade did not run
    x-llmtriage-escalation-reason  why the cheap answer was doubted (escalated only)
    x-llmtriage-decision-id        the decision log's id, for POST /v1/feedback (log on only)
    x-llmtriage-explored-from      the router's own tier, when ε-exploration routed elsewhere

With the cascade, the tier/deployment/model headers name what answered, and the cost
and attempts cover both tiers' calls.

When every deployment of the fallback chain failed the answer is a 503 whose error
lists the attempts (`error.attempts`: deployment, outcome, status, latency, reason). A
fail-fast upstream 4xx (bad request, content policy, context length, not found) keeps
the upstream's status and code; an upstream 401/403 is a 502, since the key at fault
is the proxy's, not the client's.

A stream's cost is known only after its last chunk, so streams carry it in an SSE
comment line just before the terminator, which SSE clients ignore:

    : x-llmtriage-cost=0.0000105
    data: [DONE]

The usage chunk is forwarded only when the client sent `stream_options.include_usage`.
An upstream failure after the stream started arrives as a final `data: {"error": …}`
event (no `[DONE]`), which the OpenAI SDKs raise as an APIError.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeVar, cast, get_type_hints

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from llmtriage.errors import LlmtriageError
from llmtriage.execution.served import CascadeInfo
from llmtriage.execution.streaming import RoutedStream, StreamNotResumed
from llmtriage.fallback.attempts import Attempt, calls, fallbacks
from llmtriage.fallback.errors import ChainExhausted, FallbackError
from llmtriage.fallback.metrics import FallbackMetrics
from llmtriage.learning.judge import answer_text
from llmtriage.learning.shadow import ShadowJob, StreamShadow
from llmtriage.providers.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderCallError,
    ProviderHTTPError,
    ProviderKeyMissing,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderTimeout,
)
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.config import DeploymentConfig, RoutingConfig
from llmtriage.routing.cost import format_cost
from llmtriage.routing.decision import Decision
from llmtriage.routing.errors import ClientAuthError, NoAllowedTier, RoutingError, UnknownModel
from llmtriage.scoring.scorer import Scorer
from llmtriage.server.auth import AUTH_SCOPE_KEY, group
from llmtriage.server.errors import (
    BODY_ERRORS,
    RATE_ERRORS,
    ApiError,
    error_body,
    error_response,
    error_responses,
)
from llmtriage.server.routes.direct import declares_only, log_framework_handler
from llmtriage.server.routes.score import parse_json_body
from llmtriage.server.state import STATE_KEY, AppState, request_telemetry
from llmtriage.server.telemetry import CallTelemetry
from llmtriage.service import RoutingService, open_routing
from llmtriage.store.decision_cache import ScopedCache

log = logging.getLogger(__name__)
T = TypeVar("T")

# Domain error -> (HTTP status, OpenAI-style code); the most specific class wins.
ERROR_STATUS: dict[type[LlmtriageError], tuple[int, str]] = {
    ClientAuthError: (401, "invalid_api_key"),
    UnknownModel: (404, "model_not_found"),
    NoAllowedTier: (403, "tier_forbidden"),
    RoutingError: (400, "routing_error"),
    ProviderKeyMissing: (503, "provider_key_missing"),
    ProviderBadRequest: (400, "upstream_bad_request"),
    ContextWindowExceeded: (400, "context_length_exceeded"),
    ProviderRateLimited: (429, "rate_limit_exceeded"),
    ProviderAuthError: (502, "upstream_auth_failed"),
    ProviderTimeout: (504, "upstream_timeout"),
    StreamNotResumed: (502, "stream_not_resumed"),
    ProviderCallError: (502, "upstream_error"),
    ChainExhausted: (503, "all_deployments_failed"),
}


def describe(exc: LlmtriageError) -> tuple[int, str, str]:
    status, code = next(ERROR_STATUS[c] for c in type(exc).__mro__ if c in ERROR_STATUS)
    message = str(exc)
    if isinstance(exc, ProviderBadRequest | ProviderNotFound):
        # Fail-fast 4xx: the upstream's own status and code reach the client.
        status, code = exc.status, exc.provider_code or code
    if isinstance(exc, ProviderAuthError):
        # The provider's text may quote part of the key: say only what happened.
        message = f"deployment '{exc.deployment}': the provider rejected its configured credentials"
    if isinstance(exc, ProviderCallError):
        log.warning("provider call failed: deployment=%s kind=%s", exc.deployment, exc.kind.value)
    return status, code, message


def _error(exc: LlmtriageError) -> Response:
    status, code, message = describe(exc)
    headers = None
    if isinstance(exc, ProviderHTTPError) and exc.retry_after is not None:
        headers = {"retry-after": str(math.ceil(exc.retry_after))}
    if isinstance(exc, ChainExhausted):
        body = error_body(message, status=status, code=code)
        body["error"]["attempts"] = [attempt.to_dict() for attempt in exc.attempts]
        return JSONResponse(body, status_code=status, headers=attempt_headers(exc.attempts))
    return error_response(message, status=status, code=code, headers=headers)


class ProxyRoute(APIRoute):
    """Maps routing and provider errors to OpenAI-style responses for this router's routes.

    Endpoints shaped exactly `f(body: ChatRequest, request, service: Routing)` skip
    FastAPI's request handler: the body is parsed and validated in one pydantic-core
    call and the (authorised) routing service is looked up directly. FastAPI's
    dependency solving and second validation pass cost ~0.1 ms a request, 7% of a
    proxied call. Errors take the same exception handlers; the signature still
    documents the route. An endpoint that declares anything more gets FastAPI's own
    handler (routes/direct.py).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = self._direct_handler() or super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (RoutingError, ProviderCallError, FallbackError) as exc:
                return _error(exc)

        return handle

    def _direct_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]] | None:
        if get_type_hints(self.endpoint).get("body") is not ChatRequest:
            return None
        if not declares_only(self.dependant, "body", [authorized]):
            log_framework_handler(self.path)  # a Depends more: FastAPI solves them all
            return None
        endpoint = cast(Callable[..., Coroutine[Any, Any, Response]], self.endpoint)

        async def handler(request: Request) -> Response:
            # Before the body: a client without a valid key learns nothing about it.
            service = await authorized(request, await get_routing(request))
            # FastAPI parses a body without Content-Type as JSON too; keep that leniency.
            content_type = request.headers.get("content-type", "application/json")
            raw = await request.body()
            body = parse_json_body(ChatRequest, content_type, raw, strict=True)
            _check_bounds(cast(ChatRequest, body), service)
            return await endpoint(body, request, service)

        return handler


def _check_bounds(body: ChatRequest, service: RoutingService) -> None:
    """max_tokens and max_completion_tokens within 1 and the context window of the
    deployment the request names (the largest of all for a routed request, whose
    deployment is not chosen yet): a huge count is refused here, not sent upstream."""
    named = service.deployments.get(body.model)
    if named is not None:
        limit, which = named.config.context_window, f"deployment '{body.model}'"
    else:
        limit = max((d.config.context_window for d in service.deployments.values()), default=0)
        which = "the largest of the deployments"
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(body, name)
        if value is not None and not 1 <= value <= limit:
            raise ApiError(
                f"{name}: must be between 1 and {limit} (the context window of {which})",
                status=422,
                param=name,
                code="out_of_range",
            )


router = APIRouter(route_class=ProxyRoute, tags=["proxy"])


def routing_lifespan(
    config: RoutingConfig,
    *,
    env: Mapping[str, str],
    scorer: Callable[[FastAPI], Scorer | None],
    score_cache: Callable[[FastAPI], ScopedCache | None] | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan hook that opens the routing service (and its httpx client) as
    `app.state.routing` and closes it on shutdown. `scorer(app)` is asked at start-up,
    after the model is loaded, and `score_cache(app)` (the decision cache) after that."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cache = score_cache(app) if score_cache is not None else None
        # An app built by create_app carries the shared store (breakers live beside the
        # cache: in Redis when configured) and a metrics registry; a bare app has neither.
        state: AppState | None = getattr(app.state, STATE_KEY, None)
        shared = state.shared if state else None
        async with open_routing(
            config,
            scorer(app),
            env=env,
            score_cache=cache,
            breaker_store=shared.store if shared else None,
            breaker_keys=shared.keys if shared else None,
            fallback_metrics=FallbackMetrics(state.metrics.registry) if state else None,
        ) as service:
            app.state.routing = service
            shadower = service.shadower
            decision_log = shared.telemetry.decision_log if shared else None
            if shadower is None:
                yield
                return
            if decision_log is None:
                log.warning("shadow comparisons need the decision log (decision_log): off")
                yield
                return
            await shadower.start(decision_log, state.metrics.registry if state else None)
            try:
                yield
            finally:
                await shadower.aclose()

    return lifespan


# Dependencies are `async def`: FastAPI runs plain `def` ones in a thread pool, which
# costs more than the whole routing decision.
async def get_routing(request: Request) -> RoutingService:
    return cast(RoutingService, request.app.state.routing)


async def authorized(
    request: Request, service: Annotated[RoutingService, Depends(get_routing)]
) -> RoutingService:
    # Under create_app the app's auth policy (server/auth.py) has decided already; a bare
    # app around this router checks the routing config's client keys itself.
    if not request.scope.get(AUTH_SCOPE_KEY):
        service.authorize(request.headers.get("authorization"))
    return service


Routing = Annotated[RoutingService, Depends(authorized)]


def decision_headers(decision: Decision, decision_id: str | None = None) -> dict[str, str]:
    """`decision_id`: the decision log's id for this request (None: the log is off)."""
    headers = {
        "x-llmtriage-tier": decision.tier,
        "x-llmtriage-deployment": decision.deployment,
        "x-llmtriage-model": decision.model,
        "x-llmtriage-reason": decision.reason.value,
    }
    if decision.score is not None:
        headers["x-llmtriage-score"] = f"{decision.score:.4f}"
    if decision.novelty is not None:
        flag = "; novel" if decision.novel else ""
        headers["x-llmtriage-novelty"] = f"{decision.novelty:.4f}{flag}"
    if decision.rule is not None:
        headers["x-llmtriage-rule"] = decision.rule
    if decision_id is not None:
        headers["x-llmtriage-decision-id"] = decision_id
    if decision.explored and decision.policy_tier is not None:
        headers["x-llmtriage-explored-from"] = decision.policy_tier
    return headers


def attempt_headers(attempts: Sequence[Attempt]) -> dict[str, str]:
    headers = {"x-llmtriage-attempts": str(calls(attempts))}
    failed = fallbacks(attempts)
    if failed:
        headers["x-llmtriage-fallbacks"] = ",".join(f"{name}={kind}" for name, kind in failed)
    return headers


def cascade_headers(info: CascadeInfo | None) -> dict[str, str]:
    if info is None:
        return {}
    headers = {"x-llmtriage-cascade": info.header}
    if info.escalated:
        reason = info.reason.encode("ascii", "replace").decode().replace("\r", " ")
        headers["x-llmtriage-escalation-reason"] = reason.replace("\n", " ")
    return headers


def served_headers(
    decision: Decision,
    tier: str,
    deployment: DeploymentConfig,
    attempts: Sequence[Attempt],
    decision_id: str | None = None,
) -> dict[str, str]:
    """The decision's headers, naming the deployment that really answered."""
    return (
        decision_headers(decision, decision_id)
        | {
            "x-llmtriage-tier": tier,
            "x-llmtriage-deployment": deployment.name,
            "x-llmtriage-model": deployment.model,
        }
        | attempt_headers(attempts)
    )


CHAT_EXAMPLE = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Prove that the square root of 2 is irrational."}],
    "max_tokens": 256,
}
CHAT_ERRORS = {
    400: "Malformed JSON, a routing error, or an upstream's fail-fast 4xx (its status kept)",
    403: "A client key on an admin endpoint, or a rule forbids every tier the request could use",
    404: "Unknown model or deployment",
    422: "Wrong shape or type (strict: no bool for a number, no string for a bool), or "
    "max_tokens outside 1 to the context window",
}
UPSTREAM_ERRORS = {
    429: "This client key's rate limit (rate_limit_rps), or the upstream's (Retry-After "
    "when known)",
    502: "The upstream failed, rejected the proxy's credentials, or a stream could not resume",
    503: "Every deployment of the fallback chain failed, or a deployment has no API key",
    504: "The upstream timed out",
}


@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra=group("inference", CHAT_EXAMPLE),
    responses=error_responses(BODY_ERRORS, CHAT_ERRORS, UPSTREAM_ERRORS),
)
async def chat_completions(body: ChatRequest, request: Request, service: Routing) -> Response:
    seen = CallTelemetry(
        request_telemetry(request), service.config, body=body, headers=request.headers
    )
    if body.stream:
        stream = await service.stream(body, request.headers)
        await seen.decided(stream.decision)
        headers = (
            served_headers(
                stream.decision, stream.tier, stream.deployment, stream.attempts, seen.decision_id
            )
            | cascade_headers(stream.cascade)
            | {"cache-control": "no-cache", "x-accel-buffering": "no"}
        )
        shadow = None
        if _sampled(service, seen, stream.decision):
            assert service.shadower is not None and seen.decision_id is not None
            shadow = StreamShadow(service.shadower, seen.decision_id, body)
        events = _sse(stream, with_usage=body.wants_usage, seen=seen, shadow=shadow)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    done = await _unless_client_leaves(request, service.complete(body, request.headers))
    await seen.decided(done.decision)
    served = done.served
    seen.completed(
        seen.answered_as(done.decision, done.cascade), served.config, done.response.usage
    )
    seen.log_completion(done)
    if _sampled(service, seen, done.decision):  # after the answer; the job runs off the path
        assert service.shadower is not None and seen.decision_id is not None
        job = ShadowJob(
            seen.decision_id, done.decision, served.tier, served.config.name, body,
            answer_text(done.response),
        )  # fmt: skip
        service.shadower.offer(job)
    headers = (
        served_headers(done.decision, served.tier, served.config, done.attempts, seen.decision_id)
        | cascade_headers(done.cascade)
        | {"x-llmtriage-cost": format_cost(done.cost)}
    )
    return Response(done.response.to_json(), media_type="application/json", headers=headers)


def _sampled(service: RoutingService, seen: CallTelemetry, decision: Decision) -> bool:
    """Whether to shadow this request (needs its decision logged)."""
    shadower = service.shadower
    return shadower is not None and seen.decision_id is not None and shadower.sample(decision)


async def _unless_client_leaves(request: Request, call: Coroutine[Any, Any, T]) -> T:
    """`call`, cancelled when the client disconnects first: the upstream request in flight
    is abandoned (its connection closed) and the client's is counted as a 499
    (ClientDisconnect). The body has been read, so the next message the server has for
    this request is its disconnect."""
    task = asyncio.ensure_future(call)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    if task.done():
        watcher.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.debug("client disconnected: upstream call cancelled")
    raise ClientDisconnect()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _sse(
    stream: RoutedStream,
    *,
    with_usage: bool,
    seen: CallTelemetry,
    shadow: StreamShadow | None = None,
) -> AsyncIterator[bytes]:
    ended = False  # the upstream's stream ended or failed (not: the client went away)
    try:
        async for chunk in stream:
            if shadow is not None:
                shadow.see(chunk)
            if chunk.usage_only and not with_usage:
                continue
            yield b"data: " + chunk.to_json(with_usage=with_usage) + b"\n\n"
        ended = True
    except ProviderCallError as exc:  # headers are gone: report in-band, as OpenAI does
        ended = True
        seen.log_stream(stream, "error")
        status, code, message = describe(exc)
        yield (
            b"data: " + json.dumps(error_body(message, status=status, code=code)).encode() + b"\n\n"
        )
        return
    finally:
        with anyio.CancelScope(shield=True):  # a client disconnect must still free the upstream
            await stream.aclose()
        if not ended:
            # The client went away mid-stream: the call is accounted with what is known
            # of it (its duration; usage and cost when the upstream had sent them).
            log.debug("client disconnected mid-stream: upstream stream closed")
            seen.completed(
                seen.answered_as(stream.decision, stream.cascade), stream.deployment, stream.usage
            )
            seen.log_stream(stream, "client_closed")
    seen.completed(
        seen.answered_as(stream.decision, stream.cascade), stream.deployment, stream.usage
    )
    seen.log_stream(stream, "ok")
    if shadow is not None:  # the whole answer has been sent
        shadow.ended(stream.decision, stream.tier, stream.deployment.name)
    for name, value in stream.trailer().items():  # a resumed answer names who finished it
        yield f": {name}={value}\n\n".encode()
    yield f": x-llmtriage-cost={format_cost(stream.cost)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@router.post(
    "/v1/route",
    response_model=None,
    openapi_extra=group("inference", CHAT_EXAMPLE),
    responses=error_responses(BODY_ERRORS, CHAT_ERRORS, RATE_ERRORS, {503: "Model not loaded"}),
)
async def route(body: ChatRequest, request: Request, service: Routing) -> JSONResponse:
    """The decision for a chat-completions body, without calling any model."""
    decision = await service.decide(body, request.headers)
    await CallTelemetry(request_telemetry(request), service.config).decided(decision)
    return JSONResponse(decision.to_dict(), headers=decision_headers(decision))


@router.get(
    "/v1/models",
    response_model=None,
    openapi_extra=group("inference"),
    responses=error_responses(RATE_ERRORS),
)
async def models(service: Routing) -> JSONResponse:
    config = service.config
    data: list[dict[str, Any]] = [
        _card(name, "llmtriage", {"kind": "auto", "tiers": config.tier_names})
        for name in config.auto_model_names
    ]
    for tier in config.tiers:
        names = [d.name for d in tier.deployments]
        data.append(_card(tier.name, "llmtriage", {"kind": "tier", "deployments": names}))
    for name, resolved in service.deployments.items():
        d = resolved.config
        info = {
            "kind": "deployment",
            "tier": resolved.tier,
            "model": d.model,
            "provider": d.provider,
            "context_window": d.context_window,
            "input_price_per_mtok": str(d.input_price_per_mtok),
            "output_price_per_mtok": str(d.output_price_per_mtok),
            "available": resolved.provider is not None,
        }
        data.append(_card(name, d.provider, info))
    return JSONResponse({"object": "list", "data": data})


def _card(model_id: str, owner: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner, "llmtriage": info}
