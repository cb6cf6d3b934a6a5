"""The proxy under fault injection: config, app and client, all on loopback."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import openai
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest

from llmtriage.fallback import FallbackMetrics
from llmtriage.routing import RoutingConfig, parse_routing_config
from llmtriage.server.errors import install_error_handlers
from llmtriage.server.routes import proxy
from llmtriage.service import open_routing
from llmtriage.store import FailOpenStore, KeySpace, Store
from tests.providers.serving import ServerThread


def deployment(name: str, url: str, *, window: int = 8000) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "model": f"model-{name}",
        "base_url": f"{url}/v1",
        "input_price_per_mtok": 1,
        "output_price_per_mtok": 2,
        "context_window": window,
    }


# Tight timeouts so that every fault resolves within about a second. A whole answer has no
# first token to wait for: `read` bounds it; a stream's first_token and idle are shorter.
FALLBACK: dict[str, Any] = {
    "enabled": True,
    "deadline_s": 6,
    "neighbour_tiers": "up",
    "max_retries": 2,
    "max_retry_wait_s": 1.0,
    "backoff": {"base_s": 0.05, "max_s": 0.2},
    # Effectively off unless a test tightens it: each test's faults stay its own.
    "breaker": {"window_s": 30, "min_calls": 1000, "failure_rate": 1.0, "cooldown_s": 1},
}
TIMEOUTS = {"connect": 1.0, "first_token": 0.5, "idle": 0.5, "read": 1.0, "total": 5.0}


def chaos_config(
    urls: dict[str, str], *, fallback: dict[str, Any] | None = None, **top: Any
) -> RoutingConfig:
    """Tier cheap = [a, b] (8k context), strong = [c] (200k): `model: cheap` starts at a."""
    merged = copy.deepcopy(FALLBACK)
    for key, value in (fallback or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    data = {
        "tiers": [
            {
                "name": "cheap",
                "deployments": [deployment("a", urls["a"]), deployment("b", urls["b"])],
            },
            {"name": "strong", "deployments": [deployment("c", urls["c"], window=200_000)]},
        ],
        "classifier": {"enabled": False},
        "timeouts": TIMEOUTS,
        "fallback": merged,
        **top,
    }
    return parse_routing_config(data)


def proxy_app(
    config: RoutingConfig,
    *,
    store: Callable[[], Store] | None = None,
    keys: KeySpace | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The proxy router with fallback wired as the app would: breakers in the store that
    `store()` builds (in the server's event loop; closed on shutdown), metrics on
    `registry` (served at /metrics)."""
    registry = registry or CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        shared = app.state.breaker_store = store() if store is not None else None
        try:
            async with open_routing(
                config,
                None,
                env={},
                breaker_store=shared,
                breaker_keys=keys,
                fallback_metrics=FallbackMetrics(registry),
            ) as service:
                app.state.routing = service
                yield
        finally:
            if shared is not None:
                await shared.aclose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(proxy.router)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain")

    @app.get("/_store")
    async def store_state() -> dict[str, Any]:
        """How often the breakers' store fell back to local memory (Redis outages)."""
        shared = getattr(app.state, "breaker_store", None)
        if not isinstance(shared, FailOpenStore):
            return {}
        return {
            "degraded": shared.degraded,
            "failures": shared.failures,
            "fallbacks": shared.fallbacks,
        }

    return app


@contextmanager
def running(config: RoutingConfig, **kw: Any) -> Iterator[str]:
    with ServerThread(proxy_app(config, **kw)) as server:
        yield server.url


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=10)


def sse(url: str, body: dict[str, Any]) -> tuple[httpx.Headers, list[str]]:
    """Status 200 asserted; the non-empty SSE lines."""
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200, response.read()
        return response.headers, [line for line in response.iter_lines() if line]
