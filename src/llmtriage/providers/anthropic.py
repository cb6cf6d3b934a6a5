"""Anthropic Messages API behind the OpenAI-shaped provider protocol.

A `PassthroughRequest` (anthropic_passthrough.py) is sent as its client wrote it, model
replaced, with the client's anthropic-version/anthropic-beta; the answer is translated
as usual and also keeps the upstream's JSON or events. `count_tokens` forwards a
/v1/messages/count_tokens body."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing

import httpx

from llmtriage.providers.anthropic_passthrough import (
    FORWARDED_HEADERS,
    UpstreamChunk,
    UpstreamMessage,
    original_of,
)
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
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse, JSONObject

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
        self._count_route = Route(endpoint, "/v1/messages/count_tokens", headers)

    def _request(self, request: ChatRequest, *, stream: bool, timeout: Timeouts) -> httpx.Request:
        original = original_of(request)
        if original is not None:
            body_bytes = original.body_for(self.endpoint.model, stream=stream)
            http_request = self._route.request(body_bytes, timeout=timeout, stream=stream)
            _forward(http_request, original.headers)
            return http_request
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
        message = parse_model(AnthropicMessage, body, self.endpoint)
        if original_of(request) is None:
            return to_chat_response(message)
        kept = to_chat_response(message, UpstreamMessage)
        if isinstance(kept, UpstreamMessage):
            kept._raw = body  # the upstream's answer, for the /v1/messages client as it came
        return kept

    async def count_tokens(
        self, body: JSONObject, headers: Mapping[str, str], *, timeout: Timeouts
    ) -> int:
        """Anthropic's own count for a count_tokens body (model replaced), or a typed error."""
        http_request = self._count_route.request(
            json_dumps({**body, "model": self.endpoint.model}), timeout=timeout, stream=False
        )
        _forward(http_request, headers)
        raw = await fetch_body(self._client, http_request, timeout=timeout)
        try:
            count = json.loads(raw)["input_tokens"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderProtocolError(
                "unparseable count_tokens answer", deployment=self.endpoint.deployment
            ) from exc
        if not isinstance(count, int):
            raise ProviderProtocolError(
                "count_tokens answered no integer", deployment=self.endpoint.deployment
            )
        return count

    async def stream(
        self, request: ChatRequest, *, timeout: Timeouts
    ) -> AsyncGenerator[ChatChunk, None]:
        http_request = self._request(request, stream=True, timeout=timeout)
        keep = original_of(request) is not None  # passthrough: the events ride along
        translator = StreamTranslator(
            deployment=self.endpoint.deployment,
            model=self.endpoint.model,
            chunk_type=UpstreamChunk if keep else ChatChunk,
        )
        pending: list[tuple[str, str]] = []
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
                        if keep:
                            pending.append((event.event or str(data.get("type")), event.data))
                        for chunk in translator.feed(data):
                            if keep:
                                _carry(chunk, pending)
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
        last = translator.usage_chunk()
        if keep:
            _carry(last, pending)
        yield last


def _carry(chunk: ChatChunk, pending: list[tuple[str, str]]) -> None:
    """The events seen since the last chunk go with this one."""
    if isinstance(chunk, UpstreamChunk):
        chunk._events = tuple(pending)
        pending.clear()


def _forward(http_request: httpx.Request, headers: Mapping[str, str]) -> None:
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value:
            http_request.headers[name] = value
