"""LLM providers behind one protocol, chosen by kind through an explicit registry.

`PROVIDERS` feeds config validation (a deployment's `provider:` must be a key)
and `build_routing`, which builds one provider per deployment.
"""

from __future__ import annotations

from llmtriage.providers import anthropic, fake, openai_compat
from llmtriage.providers.base import Endpoint, Provider, ProviderFactory, ProviderKind, Timeouts
from llmtriage.providers.types import ChatChunk, ChatMessage, ChatRequest, ChatResponse, Usage

PROVIDERS: dict[str, ProviderKind] = {
    "openai": ProviderKind(
        build=openai_compat.OpenAICompatProvider, default_base_url=openai_compat.DEFAULT_BASE_URL
    ),
    "anthropic": ProviderKind(
        build=anthropic.AnthropicProvider, default_base_url=anthropic.DEFAULT_BASE_URL
    ),
    # Answers in-process without a key: for demos and tests, never a real model.
    "fake": ProviderKind(build=fake.FakeProvider, default_base_url=fake.DEFAULT_BASE_URL),
}

__all__ = [
    "PROVIDERS",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Endpoint",
    "Provider",
    "ProviderFactory",
    "ProviderKind",
    "Timeouts",
    "Usage",
]
