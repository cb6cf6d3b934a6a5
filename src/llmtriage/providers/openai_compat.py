"""OpenAI-compatible chat completions (OpenAI, Azure-style gateways, vLLM, Ollama, …)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx

from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import (
    ProviderProtocolError,
    ProviderStreamError,
    provider_message,
)
from llmtriage.providers.http import (
    Route,
    fetch_body,
    open_events,
    parse_model,
    translate_errors,
)
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatProvider:
    def __init__(self, endpoint: Endpoint, *, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self._client = client
        # Without a key (local servers) no Authorization header is sent at all.
        auth = {"authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._route = Route(endpoint, "/chat/completions", auth)

    async def complete(self, request: ChatRequest, *, timeout: Timeouts) -> ChatResponse:
        body = request.upstream_json(self.endpoint.model, stream=False)
        http_request = self._route.request(body, timeout=timeout, stream=False)
        content = await fetch_body(self._client, http_request, timeout=timeout)
        return parse_model(ChatResponse, content, self.endpoint)

    async def stream(
        self, request: ChatRequest, *, timeout: Timeouts
    ) -> AsyncGenerator[ChatChunk, None]:
        body = request.upstream_json(self.endpoint.model, stream=True)
        http_request = self._route.request(body, timeout=timeout, stream=True)
        with translate_errors(self.endpoint):
            events = open_events(self._client, http_request, timeout=timeout)
            done = False
            async with aclosing(events):
                async for event in events:
                    if event.data == "[DONE]":
                        # Read on to the end of the body (there is nothing after [DONE] but
                        # the chunked terminator): a fully read connection is reused.
                        done = True
                    elif not done:
                        yield self._chunk(event.data)
        if not done:  # a stream cut without its terminator must not pass for complete
            raise ProviderProtocolError(
                "the stream ended without [DONE]", deployment=self.endpoint.deployment
            )

    def _chunk(self, data: str) -> ChatChunk:
        chunk = parse_model(ChatChunk, data, self.endpoint)
        error = (chunk.model_extra or {}).get("error")
        if error is not None:  # OpenAI reports some failures inside a 200 stream
            message, code = provider_message({"error": error})
            raise ProviderStreamError(
                message or "error event in the stream",
                deployment=self.endpoint.deployment,
                error_type=code,
            )
        return chunk
