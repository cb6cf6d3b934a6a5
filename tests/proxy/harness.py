"""The proxy under test: a small FastAPI app around the proxy router, on loopback."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI

from llmtriage.routing import RoutingConfig
from llmtriage.scoring.scorer import Scorer
from llmtriage.server.errors import install_error_handlers
from llmtriage.server.routes import proxy

CLIENT_KEY = "client-secret"
ENV = {"TEST_OPENAI_KEY": "sk-openai-test-key", "TEST_ANTHROPIC_KEY": "sk-ant-test-key"}

CONFIG = """\
tiers:
  - name: cheap
    deployments:
      - name: mini
        provider: openai
        model: gpt-mini
        base_url: {openai}/v1
        api_key_env: TEST_OPENAI_KEY
        input_price_per_mtok: 0.15
        output_price_per_mtok: 0.60
        context_window: 128000
      - name: nokey
        provider: openai
        model: gpt-nokey
        base_url: {openai}/v1
        api_key_env: TEST_MISSING_KEY
        input_price_per_mtok: 0.1
        output_price_per_mtok: 0.1
        context_window: 128000
  - name: strong
    deployments:
      - name: sonnet
        provider: anthropic
        model: claude-sonnet
        base_url: {anthropic}
        api_key_env: TEST_ANTHROPIC_KEY
        input_price_per_mtok: 3
        output_price_per_mtok: 15
        context_window: 200000
rules:
  - {{id: free, match: {{headers: {{x-user-tier: free}}}}, action: forbid_tiers, tiers: [strong]}}
  - {{id: tools, match: {{has_tools: true}}, action: route_to_tier, tier: strong}}
  - id: summaries
    match: {{headers: {{x-feature: summarise}}}}
    action: route_to_tier
    tier: cheap
  - {{id: json, match: {{json_mode: true}}, action: route_to_deployment, deployment: mini}}
auth:
  api_key_hashes: [{hashes}]
# Off (it is on by default): these tests see each upstream's error as the client gets it
# without a chain; tests/chaos and tests/fallback test the chains.
fallback: {{enabled: false}}
"""


def write_config(directory: Path, *, openai: str, anthropic: str) -> Path:
    hashes = ", ".join(hashlib.sha256(k.encode()).hexdigest() for k in (CLIENT_KEY, "second-key"))
    path = directory / "routing.yaml"
    path.write_text(CONFIG.format(openai=openai, anthropic=anthropic, hashes=hashes))
    return path


def proxy_app(config: RoutingConfig, scorer: Scorer | None, env: Mapping[str, str]) -> FastAPI:
    app = FastAPI(lifespan=proxy.routing_lifespan(config, env=env, scorer=lambda _: scorer))
    install_error_handlers(app)
    app.include_router(proxy.router)
    return app
