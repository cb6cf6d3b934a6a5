"""The full service (create_service) routing to the fake OpenAI upstream, decision log on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from llmtriage.server.settings import ServeSettings

CLIENT_KEY = "learning-client-key"
OTHER_KEY = "another-client-key"
ENV = {"TEST_OPENAI_KEY": "sk-openai-test-key"}

ROUTING = """\
tiers:
  - name: cheap
    deployments:
      - {{name: mini, provider: openai, model: gpt-mini, base_url: "{openai}/v1",
          api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 0.15, output_price_per_mtok: 0.6,
          context_window: 128000}}
  - name: mid
    deployments:
      - {{name: medium, provider: openai, model: gpt-medium, base_url: "{openai}/v1",
          api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 1, output_price_per_mtok: 4,
          context_window: 128000}}
  - name: strong
    deployments:
      - {{name: big, provider: openai, model: gpt-big, base_url: "{openai}/v1",
          api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 3, output_price_per_mtok: 15,
          context_window: 128000}}
classifier: {{thresholds: {{mid: 0.4, strong: 0.7}}}}
rules:
  - {{id: tools, match: {{has_tools: true}}, action: route_to_tier, tier: strong}}
fallback: {{enabled: false}}
exploration: {exploration}
"""


def write_routing(folder: Path, openai: str, exploration: str = "{}") -> Path:
    path = folder / "routing.yaml"
    path.write_text(ROUTING.format(openai=openai, exploration=exploration))
    return path


def settings(
    model: Path, routing: Path, url: str, *, auth: bool = False, **log: Any
) -> ServeSettings:
    keys = [hashlib.sha256(k.encode()).hexdigest() for k in (CLIENT_KEY, OTHER_KEY)]
    return ServeSettings(
        model=model,
        routing_config=routing,
        cache_ttl_s=0,
        client_key_hashes=keys if auth else [],
        rate_limit_rps=0,
        decision_log={"enabled": True, "url": url, "flush_s": 0.01, "hash_key": "k" * 32, **log},
    )


def chat(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def bearer(key: str = CLIENT_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}
