"""Fixtures for the service-on-Redis tests: a routing config with in-process fake
providers (no upstream, deterministic usage) and apps built from settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

# Prices: strong is 20x cheap on input, 25x on output, so savings are easy to check.
ROUTING = """\
tiers:
  - name: cheap
    deployments:
      - {name: mini, provider: fake, model: fake-mini, input_price_per_mtok: 0.15,
         output_price_per_mtok: 0.6, context_window: 128000}
  - name: strong
    deployments:
      - {name: big, provider: fake, model: fake-big, input_price_per_mtok: 3,
         output_price_per_mtok: 15, context_window: 128000}
rules:
  - {id: tools, match: {has_tools: true}, action: route_to_tier, tier: strong}
"""

ServiceFactory = Callable[..., FastAPI]


@pytest.fixture(scope="session")
def routing_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routing") / "routing.yaml"
    path.write_text(ROUTING)
    return path


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix: tests sharing the session Redis never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def make_service(tiny_artifact: Path, routing_config: Path, prefix: str) -> ServiceFactory:
    """create_service over the tiny artifact and the fake-provider config; keyword
    arguments become settings."""

    def build(**settings: Any) -> FastAPI:
        values: dict[str, Any] = {
            "model": tiny_artifact,
            "routing_config": routing_config,
            "redis_prefix": prefix,
            "stats_flush_s": 0.1,
        }
        return create_service(ServeSettings(**(values | settings)), env={})

    return build


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}
