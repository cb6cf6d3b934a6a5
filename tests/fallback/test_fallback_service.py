"""The routing service with fallback on: config → chain, order across tiers, streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from llmtriage.errors import ConfigError
from llmtriage.fallback import ChainExhausted
from llmtriage.providers import PROVIDERS, Endpoint, ProviderKind
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.fake import FakeProvider, Script
from llmtriage.providers.types import ChatRequest
from llmtriage.routing import parse_routing_config
from llmtriage.service import RoutingService, build_routing
from tests.fallback.fakes import TRANSPORT, status
from tests.routing.configs import config_data, deployment

SCRIPTS: dict[str, Script] = {}


def _scripted(endpoint: Endpoint, *, client: httpx.AsyncClient) -> FakeProvider:
    return FakeProvider(endpoint, script=SCRIPTS.setdefault(endpoint.deployment, Script()))


FAKES = {**PROVIDERS, "fake": ProviderKind(build=_scripted, default_base_url="memory://")}
REQUEST = ChatRequest.model_validate(
    {"model": "cheap", "messages": [{"role": "user", "content": "hi there"}]}
)


def fail(name: str, *errors: ProviderCallError) -> None:
    SCRIPTS.setdefault(name, Script()).errors.extend(errors)


def data(**fallback: Any) -> dict[str, Any]:
    tiers = [
        {"name": "cheap", "deployments": [deployment("c1", "m-c1"), deployment("c2", "m-c2")]},
        {"name": "mid", "deployments": [deployment("m1", "m-m1")]},
        {"name": "strong", "deployments": [deployment("s1", "m-s1", window=500_000)]},
    ]
    # No same-deployment retries unless a test asks: these tests follow the chain's order
    # (retries: test_fallback_chain.py, and test_a_lone_5xx_is_retried below).
    fallback = {"enabled": True, "max_retries": 0, **fallback}
    return config_data(tiers=tiers, rules=[], classifier={"enabled": False}, fallback=fallback)


@pytest.fixture
async def service() -> AsyncIterator[RoutingService]:
    SCRIPTS.clear()
    async with httpx.AsyncClient() as client:
        yield build_routing(
            parse_routing_config(data()), None, http_client=client, env={}, providers=FAKES
        )


def received(name: str) -> int:
    return len(SCRIPTS[name].received) if name in SCRIPTS else 0


async def test_falls_back_through_the_tier_then_up(service: RoutingService) -> None:
    fail("c1", status(500))
    fail("c2", TRANSPORT["connection"]())
    done = await service.complete(REQUEST, {})
    assert done.served is not None and done.served.name == "m1"
    assert done.response.model == "m-m1" and done.decision.deployment == "c1"
    assert [(a.deployment, a.kind) for a in done.attempts] == [
        ("c1", "server"),
        ("c2", "connection"),
        ("m1", "ok"),
    ]
    assert received("s1") == 0  # only the nearest tier is a neighbour


async def test_forbidden_tier_is_not_a_fallback(service: RoutingService) -> None:
    rules = [{"id": "f", "match": {}, "action": "forbid_tiers", "tiers": ["mid"]}]
    config = parse_routing_config({**data(), "rules": rules})
    async with httpx.AsyncClient() as client:
        svc = build_routing(config, None, http_client=client, env={}, providers=FAKES)
        fail("c1", status(503))
        fail("c2", status(503))
        done = await svc.complete(REQUEST, {})
    assert done.served is not None and done.served.name == "s1"  # mid skipped, strong next


async def test_exhausted_chain(service: RoutingService) -> None:
    for name in ("c1", "c2", "m1"):
        fail(name, status(500))
    with pytest.raises(ChainExhausted) as info:
        await service.complete(REQUEST, {})
    assert [a.deployment for a in info.value.attempts] == ["c1", "c2", "m1"]


async def test_stream_falls_back_before_the_first_chunk(service: RoutingService) -> None:
    fail("c1", TRANSPORT["timeout"]())
    stream = await service.stream(REQUEST.model_copy(update={"stream": True}), {})
    try:
        text = "".join(
            [str(c.choices[0]["delta"].get("content") or "") async for c in stream if c.choices]
        )
    finally:
        await stream.aclose()
    assert stream.deployment.name == "c2" and stream.tier == "cheap" and text == "fake reply"
    assert [a.kind for a in stream.attempts] == ["timeout", "ok"]


async def test_deployment_timeouts_override_field_by_field() -> None:
    raw = data()
    raw["timeouts"] = {"connect": 2, "first_token": 7, "read": 30, "total": 90}
    raw["tiers"][0]["deployments"][0]["timeouts"] = {"first_token": 1.5}
    raw["tiers"][0]["deployments"][0]["max_retries"] = 3
    async with httpx.AsyncClient() as client:
        svc = build_routing(
            parse_routing_config(raw), None, http_client=client, env={}, providers=FAKES
        )
    c1, c2 = svc.deployments["c1"], svc.deployments["c2"]
    assert (c1.timeouts.connect, c1.timeouts.first_token, c1.timeouts.total) == (2, 1.5, 90)
    assert c2.timeouts.first_token == 7
    assert (c1.max_retries, c2.max_retries) == (3, 0)


async def test_a_lone_5xx_is_retried_on_the_chosen_deployment() -> None:
    SCRIPTS.clear()
    config = parse_routing_config(data(max_retries=1, backoff={"base_s": 0.01, "max_s": 0.01}))
    async with httpx.AsyncClient() as client:
        svc = build_routing(config, None, http_client=client, env={}, providers=FAKES)
        fail("c1", status(500))
        done = await svc.complete(REQUEST, {})
    assert done.served is not None and done.served.name == "c1"
    assert [(a.deployment, a.kind) for a in done.attempts] == [("c1", "server"), ("c1", "ok")]
    assert received("c2") == 0


@pytest.mark.parametrize(
    ("fallback", "message"),
    [
        ({"neighbour_tiers": "sideways"}, "fallback.neighbour_tiers"),
        ({"backoff": {"base_s": 2, "max_s": 1}}, "max_s must be at least"),
        ({"breaker": {"failure_rate": 1.5}}, "fallback.breaker.failure_rate"),
        ({"max_attempts_per_deployment": 3}, "max_attempts_per_deployment"),
    ],
)
def test_fallback_section_is_validated(fallback: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_routing_config(data(**fallback))
