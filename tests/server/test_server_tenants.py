"""Tenant isolation: with client keys, one client cannot learn another's cache state.

The /v1/score answer says `cached`; were the cache shared, scoring a text and reading
`cached: true` would tell a client that someone else scored it within cache_ttl_s.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from llmtriage.errors import ConfigError
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from llmtriage.server.state import app_state
from tests.server.helpers import serve

ALICE, BOB, ADMIN = "alice-key", "bob-key", "admin-key"
TEXT = "Is this prompt something my neighbour asked about?"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def service(tiny_artifact: Path, **settings: Any) -> FastAPI:
    values: dict[str, Any] = {
        "model": tiny_artifact,
        "client_key_hashes": [digest(ALICE), digest(BOB)],
        "admin_key_hashes": [digest(ADMIN)],
    }
    return create_service(ServeSettings(**(values | settings)), env={})


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def cached(client: httpx.AsyncClient, key: str, text: str = TEXT) -> bool:
    response = await client.post("/v1/score", json={"prompt": text}, headers=bearer(key))
    assert response.status_code == 200, response.text
    value: bool = response.json()["cached"]
    return value


@pytest.mark.parametrize("fast_score_path", [True, False], ids=["fast-path", "fastapi"])
async def test_a_client_cannot_see_what_another_scored(
    tiny_artifact: Path, fast_score_path: bool
) -> None:
    async with serve(service(tiny_artifact, fast_score_path=fast_score_path)) as client:
        assert await cached(client, ALICE) is False
        assert await cached(client, ALICE) is True  # the cache works, per client
        assert await cached(client, BOB) is False  # Bob learns nothing of Alice's
        assert await cached(client, BOB) is True
        # Whitespace still folds within one tenant.
        assert await cached(client, ALICE, TEXT.replace(" ", "  ")) is True


async def test_without_client_keys_the_cache_is_shared(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        first = await client.post("/v1/score", json={"prompt": TEXT})
        again = await client.post("/v1/score", json={"prompt": TEXT}, headers=bearer("anything"))
    assert first.json()["cached"] is False and again.json()["cached"] is True


async def test_route_cache_is_per_client(tiny_artifact: Path) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": TEXT}]}
    async with serve(service(tiny_artifact)) as client:
        for key in (ALICE, ALICE, BOB):
            routed = await client.post("/v1/route", json=body, headers=bearer(key))
            assert routed.status_code == 200, routed.text
        metrics = (await client.get("/metrics", headers=bearer(ADMIN))).text
    hits = 'llmtriage_decision_cache_lookups_total{path="route",result="hit"} 1.0'
    misses = 'llmtriage_decision_cache_lookups_total{path="route",result="miss"} 2.0'
    assert hits in metrics and misses in metrics


async def test_memory_store_keys_with_a_secret_made_up_at_start(tiny_artifact: Path) -> None:
    secrets = []
    for _ in range(2):
        app = service(tiny_artifact)
        async with serve(app):
            shared = app_state(app).shared
            assert shared is not None
            secrets.append(shared.keys.secret)
    assert all(s is not None and len(s) >= 32 for s in secrets)
    assert secrets[0] != secrets[1]


async def test_a_configured_secret_is_used(tiny_artifact: Path) -> None:
    app = service(tiny_artifact, redis_key_secret="configured-secret")
    async with serve(app):
        shared = app_state(app).shared
        assert shared is not None and shared.keys.secret == b"configured-secret"


def test_redis_with_client_keys_requires_the_secret(tiny_artifact: Path) -> None:
    with pytest.raises(ConfigError, match="redis_key_secret is required"):
        service(tiny_artifact, redis_url="redis://127.0.0.1:1/0")
    service(tiny_artifact, redis_url="redis://127.0.0.1:1/0", redis_key_secret="s")  # builds
