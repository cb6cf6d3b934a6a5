"""The app factory: `create_app(settings)` builds a scoring service; nothing happens at import.

Later layers plug in without editing this file's callers: pass `routers=` (e.g.
the routing/proxy router) and `lifespans=` (async context managers that open and
close their clients, entered after the model is loaded, exited in reverse).

The store is opened before those hooks (`open_shared`): embedded memory when
`redis_url` is unset, else Redis behind the fail-open wrapper; on it sit the
decision cache (`cache_ttl_s`), the cross-replica aggregates of /v1/stats and their
write-behind flusher. It is closed after the hooks, following a final flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from llmtriage.errors import ConfigError, LlmtriageError
from llmtriage.learning.log import open_decision_log
from llmtriage.routing import load_routing_config
from llmtriage.scoring import Scorer
from llmtriage.server.auth import AuthMiddleware, Gate
from llmtriage.server.errors import GuardMiddleware, install_error_handlers
from llmtriage.server.fast_score import FastScorePath
from llmtriage.server.limits import LIMITS_STATE_KEY, ConnectionLimits
from llmtriage.server.metrics import Metrics, MetricsMiddleware
from llmtriage.server.model_swap import install_model, prepare_model
from llmtriage.server.ratelimit import TokenBucket
from llmtriage.server.routes import (
    admin,
    console,
    feedback,
    health,
    messages,
    proxy,
    responses,
    score,
    stats,
)
from llmtriage.server.settings import ServeSettings, settings_from_env
from llmtriage.server.state import STATE_KEY, AppState, SharedState, app_state
from llmtriage.server.telemetry import Telemetry
from llmtriage.store.aggregates import Aggregates
from llmtriage.store.decision_cache import CacheScope, DecisionCache, ScopedCache
from llmtriage.store.factory import build_store
from llmtriage.store.keys import KeySpace
from llmtriage.store.resilient import FailOpenStore

logger = logging.getLogger("llmtriage.server")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: ServeSettings,
    *,
    scorer: Scorer | None = None,
    routers: Sequence[APIRouter] = (),
    lifespans: Sequence[Lifespan] = (),
    client_keys: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app serving `scorer` (or the artifact at `settings.model`, loaded at start-up).

    `client_keys` (sha256 digests, e.g. the routing config's) are accepted beside
    `settings.client_key_hashes` wherever the auth policy asks for a client key."""
    state = AppState(settings=settings)
    gate = Gate(
        settings.auth,
        client_keys=[*settings.client_key_hashes, *client_keys],
        admin_keys=settings.admin_key_hashes,
        metrics=state.metrics,
    )
    if settings.redis_url and settings.redis_key_secret is None and gate.client_auth:
        # Replicas sharing Redis must share the secret, so none can be made up here.
        raise ConfigError(
            "redis_key_secret is required with redis_url and client keys: it keys the "
            "per-client cache digests in Redis and must be the same on every replica "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        bind_gate(app, gate)  # a route without an auth group stops the start here
        load_model(state, scorer)
        async with AsyncExitStack() as stack:
            # Before the hooks: the routing service takes its decision cache from here.
            shared = await stack.enter_async_context(open_shared(settings, state.metrics))
            state.shared = shared
            stack.callback(_forget_shared, state)
            if settings.rate_limit_rps > 0:
                gate.bucket = TokenBucket(
                    shared.store,
                    shared.keys,
                    rate=settings.rate_limit_rps,
                    burst=settings.rate_limit_burst,
                    local=shared.backend == "memory",
                )
                stack.callback(setattr, gate, "bucket", None)
            for hook in lifespans:
                await stack.enter_async_context(hook(app))
            if settings.gc_freeze:
                gc.collect()
                gc.freeze()
            # Lifespan state: what the server's connection protocol reads (protocol.py).
            yield {LIMITS_STATE_KEY: connection_limits(settings, state.metrics)}

    app = LlmtriageApp(
        title="llmtriage",
        version=_version(),
        summary="Scores LLM prompts by complexity and routes them to the cheapest good model.",
        lifespan=lifespan,
    )
    setattr(app.state, STATE_KEY, state)
    install_error_handlers(app)
    # Added last = outermost: metrics see the auth's 401s, the guard's 413s and 500s.
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, gate=gate)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    # Hot paths first: routes are matched in order, one included router after another,
    # and each router passed over costs a chat completion ~35 us (FastAPI 0.165).
    rest = (health.router, stats.router, console.router, admin.router)
    for router in (score.router, *routers, *rest):
        app.include_router(router)
    app.gate = gate
    bind_gate(app, gate)
    if settings.fast_score_path:
        app.fast_score = FastScorePath(app.serve_stack, state)
    return app


class LlmtriageApp(FastAPI):
    """FastAPI, with the well-formed `POST /v1/score` answered before its middleware
    stack (see server/fast_score.py); every other request takes the usual way.

    The fast path does by itself what this app's own middleware does (auth, rate limit,
    body limit, metrics) and nothing more. So when the stack is built (on the first
    request, after every `add_middleware` and after instrumentations such as
    OpenTelemetry's, which wrap `build_middleware_stack`), it is walked layer by layer;
    any layer the fast path does not stand in for turns the fast path off, with a log
    line, and from then on `/v1/score` goes through the stack like every endpoint.
    """

    fast_score: FastScorePath | None = None
    gate: Gate | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.fast_score is not None:
            foreign = foreign_layers(stack, self.router)
            if foreign:
                logger.info(
                    "fast /v1/score path off: the app carries middleware it would skip (%s)",
                    ", ".join(foreign),
                )
                self.fast_score = None
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:  # built first: it may turn the fast path off
            self.middleware_stack = self.build_middleware_stack()
        fast = self.fast_score
        gate = self.gate
        # A request the policy refuses takes the stack, whose AuthMiddleware answers it.
        if (
            fast is not None
            and fast.accepts(scope)
            and (gate is None or (gate.admit(scope) and await gate.throttle(scope) is None))
        ):
            await fast(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def serve_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without the fast path: where the fast path hands requests over."""
        await super().__call__(scope, receive, send)


# This app's own middleware, which the fast path stands in for (auth, rate limit, body
# limit, metrics), beside the framework's own layers (see `framework_layers`).
OWN_LAYERS: tuple[type, ...] = (GuardMiddleware, AuthMiddleware, MetricsMiddleware)


def foreign_layers(stack: ASGIApp, router: ASGIApp) -> list[str]:
    """Names of the middleware layers between the app and `router` that the fast path
    does not stand in for: neither this app's own nor one a bare FastAPI app builds."""
    covered = (*OWN_LAYERS, *framework_layers())
    return [
        type(layer).__name__ for layer in layers(stack, router) if not isinstance(layer, covered)
    ]


def framework_layers() -> tuple[type, ...]:
    """The layer types of a bare FastAPI app's stack (error and exception handling, the
    exit stack, its telemetry hook and body limit as this FastAPI version builds them):
    on the happy path of /v1/score they do nothing the fast path leaves out."""
    bare = FastAPI()
    return tuple({type(layer) for layer in layers(bare.build_middleware_stack(), bare.router)})


def layers(stack: ASGIApp, router: ASGIApp) -> list[object]:
    """The middleware between the app and `router`, outermost first, followed through
    each layer's `app` attribute; a layer that hides its next one ends the walk (and
    counts: nothing behind it can be vouched for)."""
    found: list[object] = []
    layer: object = stack
    while layer is not router:
        found.append(layer)
        layer = getattr(layer, "app", None)
        if layer is None:
            break
    return found


def connection_limits(settings: ServeSettings, metrics: Metrics) -> ConnectionLimits:
    return ConnectionLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=settings.max_connections,
        metrics=metrics,
    )


def bind_gate(app: FastAPI, gate: Gate) -> None:
    """Give the gate every route's auth group; ConfigError for a route that has none."""
    docs = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    try:
        gate.bind(app.routes, docs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def load_model(state: AppState, scorer: Scorer | None = None) -> None:
    """Load (unless given) and self-test the scorer; on failure stay up but not ready.

    Not ready rather than crashed: /healthz keeps answering, /readyz says why with
    a 503, and the orchestrator keeps traffic away. `llmtriage serve` loads the
    artifact before starting the server, so a bad path still fails fast there.
    """
    try:
        model = prepare_model(state.settings, scorer)
    except (LlmtriageError, OSError, ValueError) as exc:
        state.not_ready_reason = f"model {state.settings.model} is not usable: {exc}"
        logger.error("not ready: %s", state.not_ready_reason)
        return
    install_model(state, model)


@asynccontextmanager
async def open_shared(settings: ServeSettings, metrics: Metrics) -> AsyncIterator[SharedState]:
    """The store (embedded memory, or fail-open Redis) with its cache, aggregates and
    write-behind flusher; on exit, one last flush, then the store is closed."""
    config = settings.store_config()
    store = build_store(config)  # no I/O: Redis connects on first use
    keys = shared_keyspace(settings)
    aggregates = Aggregates(
        store, keys, bucket_s=settings.stats_bucket_s, retention_s=settings.stats_retention_s
    )
    telemetry = Telemetry(metrics, aggregates, keys)
    cache = None
    if settings.cache_ttl_s > 0:
        cache = DecisionCache(
            store, keys, ttl_s=settings.cache_ttl_s, observer=telemetry.cache_lookup
        )
    metrics.store_info.labels(config.backend).set(1)
    metrics.store_degraded.set_function(
        lambda: float(isinstance(store, FailOpenStore) and store.degraded)
    )
    flusher = asyncio.create_task(
        aggregates.run_flusher(settings.stats_flush_s), name="llmtriage-stats-flush"
    )
    try:
        # The decision log (off unless settings.decision_log.enabled) rides on telemetry.
        async with open_decision_log(
            settings.decision_log, registry=metrics.registry, fallback_key=keys.secret
        ) as decision_log:
            telemetry.decision_log = decision_log
            yield SharedState(store, config.backend, keys, aggregates, telemetry, cache)
    finally:
        telemetry.decision_log = None
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await aggregates.flush()
        await store.aclose()
        logger.info("store closed (%s)", config.backend)


def shared_keyspace(settings: ServeSettings) -> KeySpace:
    """The settings' key space; with no `redis_key_secret`, a secret made up at start.

    On the embedded memory store the keys never leave the process, so a random secret
    of this process is as good as a configured one (and cannot be guessed by whoever
    reads the keys). On Redis it cannot be made up: every replica must derive the same
    keys, so it is required with client keys (see create_app) and warned about without.
    """
    keys = settings.keyspace()
    if keys.secret is not None:
        return keys
    if not settings.redis_url:
        logger.info("redis_key_secret unset: cache digests keyed with a secret made up at start")
        return replace(keys, secret=secrets.token_bytes(32))
    logger.warning(
        "redis_key_secret unset: cache keys in Redis are unkeyed digests of the prompts; "
        "set the same secret on every replica"
    )
    return keys


def _forget_shared(state: AppState) -> None:
    state.shared = None


def _digest(data: object) -> str:
    """Short stable hash of JSON-able settings, for decision-cache scopes."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
    config = load_routing_config(settings.routing_config)
    if settings.client_key_hashes:
        # The settings' client keys are the routing service's too: its route cache is
        # partitioned per client key whenever any is configured.
        keys = sorted({*config.auth.api_key_hashes, *settings.client_key_hashes})
        config = config.model_copy(
            update={"auth": config.auth.model_copy(update={"api_key_hashes": keys})}
        )
    config_version = _digest(config.model_dump(mode="json"))

    def route_cache(app: FastAPI) -> ScopedCache | None:
        """The decision cache scoped to this routing config and the loaded classifier."""
        state = app_state(app)
        if state.shared is None or state.shared.cache is None or state.model is None:
            return None
        model_version = state.model.scorer.model_version
        return state.shared.cache.scoped(CacheScope("route", model_version, config_version))

    return create_app(
        settings,
        scorer=scorer,
        client_keys=[k for k in config.auth.api_key_hashes if k not in settings.client_key_hashes],
        routers=[proxy.router, feedback.router, messages.router, responses.router],
        lifespans=[
            proxy.routing_lifespan(
                config,
                env=os.environ if env is None else env,
                scorer=_scorer_of,
                score_cache=route_cache,
            )
        ],
    )


def _scorer_of(app: FastAPI) -> Scorer | None:
    state: AppState = getattr(app.state, STATE_KEY)
    return state.model.scorer if state.model else None


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (multi-worker serve): settings from the environment."""
    return create_service(settings_from_env())
