"""OpenAI-compatible chat completions (OpenAI, Azure-style gateways, vLLM, Ollama, …)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx

from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import (
    ProviderCallError,
    ProviderProtocolError,
    ProviderStreamError,
    provider_message,
)
from llmtriage.providers.http import (
    Route,
    drain,
    fetch_body,
    open_events,
    parse_model,
    translate_errors,
)
from llmtriage.providers.stream_end import DRAIN_S, Malformed, StreamEnd
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
        end, malformed = StreamEnd(wants_usage=request.wants_usage), Malformed(self.endpoint)
        with translate_errors(self.endpoint):
            events = open_events(self._client, http_request, timeout=timeout)
            async with aclosing(events):
                try:
                    async for event in events:
                        if event.data == "[DONE]":
                            await drain(events, within_s=DRAIN_S)
                            return
                        try:
                            chunk = self._chunk(event.data)
                        except ProviderProtocolError as exc:
                            malformed.skip(exc)
                            continue
                        end.see(chunk)
                        yield chunk
                        if end.settled:  # only [DONE] can follow: do not wait on it
                            await drain(events, within_s=DRAIN_S)
                            return
                except (httpx.HTTPError, TimeoutError, ProviderCallError):
                    if not end.complete:
                        raise
                    return  # the answer was whole before the upstream failed
        if not end.complete:  # a cut stream must not pass for complete
            raise ProviderProtocolError(
                f"the stream ended {end.missing()}", deployment=self.endpoint.deployment
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
