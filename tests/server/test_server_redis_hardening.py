"""Tenant isolation and the per-key rate limit across two replicas sharing a real Redis."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.redis_server import redis_url  # noqa: F401  (fixture)
from tests.server.helpers import serve

ALICE, BOB = "alice-redis-key", "bob-redis-key"
TEXT = "A prompt that only Alice has asked about"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def replica(tiny_artifact: Path, url: str, prefix: str, **extra: Any) -> FastAPI:
    settings: dict[str, Any] = {
        "model": tiny_artifact,
        "redis_url": url,
        "redis_prefix": prefix,
        "redis_key_secret": "replica-shared-secret",
        "client_key_hashes": [digest(ALICE), digest(BOB)],
    }
    return create_service(ServeSettings(**(settings | extra)), env={})


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


async def test_replicas_share_a_tenant_cache_and_nothing_across_tenants(
    tiny_artifact: Path,
    redis_url: str,  # noqa: F811
    prefix: str,
) -> None:
    one, two = (replica(tiny_artifact, redis_url, prefix) for _ in range(2))
    async with serve(one) as a, serve(two) as b:
        post = {"json": {"prompt": TEXT}}
        assert (await a.post("/v1/score", **post, headers=bearer(ALICE))).json()["cached"] is False
        assert (await b.post("/v1/score", **post, headers=bearer(BOB))).json()["cached"] is False
        assert (await b.post("/v1/score", **post, headers=bearer(ALICE))).json()["cached"] is True
    client = Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}*")]
    finally:
        await client.aclose()
    assert keys, "the replicas wrote to Redis"
    for key in keys:  # neither a client key's digest nor prompt text is readable
        assert digest(ALICE) not in key and digest(BOB) not in key and "Alice" not in key


async def test_replicas_share_the_rate_limit_of_a_key(
    tiny_artifact: Path,
    redis_url: str,  # noqa: F811
    prefix: str,
) -> None:
    limits = {"rate_limit_rps": 0.2, "rate_limit_burst": 3}
    one, two = (replica(tiny_artifact, redis_url, prefix, **limits) for _ in range(2))
    async with serve(one) as a, serve(two) as b:
        statuses = []
        for client in (a, b, a, b):
            response = await client.post("/v1/score", json={"prompt": "hi"}, headers=bearer(ALICE))
            statuses.append(response.status_code)
        other = await b.post("/v1/score", json={"prompt": "hi"}, headers=bearer(BOB))
    assert statuses == [200, 200, 200, 429]  # one budget of 3 over both replicas
    assert other.status_code == 200
