"""The provider protocol: one deployment, two calls (whole answer or a stream).

A provider speaks one wire format to one endpoint. It never retries, never
chooses another deployment and never logs prompts: that policy belongs to the
caller (routing today, fallback chains later), which sees typed errors only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import httpx

from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """Seconds, per deployment.

    connect      TCP (and TLS) connect
    first_token  a stream: from sending to its first event (headers sent at once prove
                 nothing); a deployment that accepts the call but never starts answering is
                 given up on early. Whole answers arrive only when complete: `read` bounds them.
    idle         a stream: the longest silence between two events once it has started, so a
                 stall mid-stream is detected within it (comment lines do not count)
    read         any one socket read (the transport's own bound)
    total        the whole call, streams included; cut to what is left of the request deadline
    None for first_token or idle: no bound beyond `read` and `total`."""

    connect: float = 5.0
    read: float = 60.0
    total: float = 300.0
    first_token: float | None = 10.0
    idle: float | None = 15.0

    def for_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)

    @cached_property
    def httpx_extension(self) -> dict[str, float | None]:
        """The per-request `timeout` extension httpx transports read (built once)."""
        return self.for_httpx().as_dict()


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where and as whom a provider calls. The key is kept out of `repr`."""

    deployment: str
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    max_output_tokens: int = 4096  # for APIs that require max_tokens (Anthropic)
    max_malformed_chunks: int = 3  # undecodable stream events skipped; one more breaks it
    # Told the deployment's name for each skipped event (the service counts them in metrics).
    on_malformed: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


class Provider(Protocol):
    endpoint: Endpoint

    async def complete(self, request: ChatRequest, *, timeout: Timeouts) -> ChatResponse:
        """One whole chat completion, `model` set to the endpoint's model."""
        ...

    def stream(self, request: ChatRequest, *, timeout: Timeouts) -> AsyncGenerator[ChatChunk, None]:
        """OpenAI `chat.completion.chunk`s as they arrive, ending with a usage-only chunk
        when the upstream reports usage. Errors before the first chunk are raised on the
        first `__anext__`."""
        ...


class ProviderFactory(Protocol):
    def __call__(self, endpoint: Endpoint, *, client: httpx.AsyncClient) -> Provider: ...


@dataclass(frozen=True, kw_only=True)
class ProviderKind:
    """A registry entry: how to build a provider and where it lives by default."""

    build: ProviderFactory
    default_base_url: str
