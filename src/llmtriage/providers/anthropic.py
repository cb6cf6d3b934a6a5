"""Anthropic Messages API behind the OpenAI-shaped provider protocol."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx

from llmtriage.providers.anthropic_stream import StreamTranslator
from llmtriage.providers.anthropic_translate import (
    AnthropicMessage,
    json_dumps,
    to_chat_response,
    to_messages_body,
)
from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import ProviderCallError, ProviderProtocolError
from llmtriage.providers.http import (
    Route,
    drain,
    fetch_body,
    open_events,
    parse_json,
    parse_model,
    translate_errors,
)
from llmtriage.providers.stream_end import DRAIN_S, Malformed, StreamEnd
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse

DEFAULT_BASE_URL = "https://api.anthropic.com"
# Pinned: the translation is written against it, and it still accepts temperature and
# top_p, which OpenAI clients send. A deployment may set another `anthropic-version`
# in its headers; 2026-10-21 removed the sampling parameters, so they are dropped then.
API_VERSION = "2023-06-01"


class AnthropicProvider:
    def __init__(self, endpoint: Endpoint, *, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self._client = client
        configured = {k.lower(): v for k, v in endpoint.headers.items()}
        version = configured.get("anthropic-version", API_VERSION)
        self._sampling = version == API_VERSION
        headers = {"anthropic-version": version}
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        self._route = Route(endpoint, "/v1/messages", headers)

    def _request(self, request: ChatRequest, *, stream: bool, timeout: Timeouts) -> httpx.Request:
        body = to_messages_body(
            request,
            model=self.endpoint.model,
            max_output_tokens=self.endpoint.max_output_tokens,
            stream=stream,
            sampling=self._sampling,
        )
        return self._route.request(json_dumps(body), timeout=timeout, stream=stream)

    async def complete(self, request: ChatRequest, *, timeout: Timeouts) -> ChatResponse:
        http_request = self._request(request, stream=False, timeout=timeout)
        body = await fetch_body(self._client, http_request, timeout=timeout)
        return to_chat_response(parse_model(AnthropicMessage, body, self.endpoint))

    async def stream(
        self, request: ChatRequest, *, timeout: Timeouts
    ) -> AsyncGenerator[ChatChunk, None]:
        http_request = self._request(request, stream=True, timeout=timeout)
        translator = StreamTranslator(
            deployment=self.endpoint.deployment, model=self.endpoint.model
        )
        end, malformed = StreamEnd(wants_usage=request.wants_usage), Malformed(self.endpoint)
        with translate_errors(self.endpoint):
            events = open_events(self._client, http_request, timeout=timeout)
            async with aclosing(events):
                try:
                    async for event in events:
                        try:
                            data = parse_json(event.data, self.endpoint)
                        except ProviderProtocolError as exc:
                            malformed.skip(exc)
                            continue
                        for chunk in translator.feed(data):
                            end.see(chunk)
                            yield chunk
                        if data.get("type") == "message_stop":
                            await drain(events, within_s=DRAIN_S)
                            return
                except (httpx.HTTPError, TimeoutError, ProviderCallError):
                    if not end.finished:
                        raise
                    # message_delta carried the stop reason and the final usage: whole.
        if not end.finished:  # a cut stream must not pass for complete
            raise ProviderProtocolError(
                f"the stream ended {end.missing()}", deployment=self.endpoint.deployment
            )
        # No message_stop: its usage-only chunk is built from message_delta's usage.
        yield translator.usage_chunk()
