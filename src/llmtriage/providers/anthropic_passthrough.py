"""Anthropic Messages requests sent upstream as the client wrote them.

The /v1/messages ingress (llmtriage.server.ingress) routes a translation of the client's body
(a `PassthroughRequest`: rules, classifier, cascade and fallback chains read it as any
ChatRequest) that also carries the `Original`: the client's body and its
`anthropic-version`/`anthropic-beta` headers. An Anthropic deployment sends that body
(model and stream set for the call) instead of translating the ChatRequest back, so
`cache_control`, thinking blocks, documents and beta fields reach it unchanged; what the
upstream answered rides back on the `UpstreamMessage` (its JSON) or on the
`UpstreamChunk`s (its SSE events, each chunk carrying those seen since the one before),
for the ingress to return as they came.

A request rewritten on the way (a resumed stream's continuation has other messages) no
longer stands for its original body: `original_of` then answers None and the request is
translated as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import PrivateAttr

from llmtriage.providers.anthropic_translate import json_dumps
from llmtriage.providers.types import ChatChunk, ChatMessage, ChatRequest, ChatResponse, JSONObject

# The client's headers an Anthropic deployment receives as sent (they select API behaviour).
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


@dataclass(frozen=True, eq=False)
class Original:
    """The client's Messages body and headers, and the translated messages they stand for."""

    body: JSONObject
    messages: list[ChatMessage]  # compared by identity: a rewritten request has a new list
    headers: Mapping[str, str] = field(default_factory=dict)

    def body_for(self, model: str, *, stream: bool) -> bytes:
        body = {**self.body, "model": model}
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)  # the cascade fetches a streamed request's cheap answer whole
        return json_dumps(body)


class PassthroughRequest(ChatRequest):
    _original: Original | None = PrivateAttr(default=None)

    def with_original(self, body: JSONObject, headers: Mapping[str, str]) -> PassthroughRequest:
        self._original = Original(body, self.messages, headers)
        return self


def original_of(request: ChatRequest) -> Original | None:
    if not isinstance(request, PassthroughRequest):
        return None
    original = request._original
    if original is None or original.messages is not request.messages:
        return None
    return original


class UpstreamMessage(ChatResponse):
    """A translated whole answer that keeps the upstream's Messages JSON as it came."""

    _raw: bytes | None = PrivateAttr(default=None)

    @property
    def raw(self) -> bytes | None:
        return self._raw


class UpstreamChunk(ChatChunk):
    """A translated chunk with the upstream's SSE events (name, data) since the last one."""

    _events: tuple[tuple[str, str], ...] = PrivateAttr(default=())

    @property
    def events(self) -> tuple[tuple[str, str], ...]:
        return self._events


def raw_message(response: ChatResponse) -> bytes | None:
    return response.raw if isinstance(response, UpstreamMessage) else None


def raw_events(chunk: ChatChunk) -> tuple[tuple[str, str], ...] | None:
    """The upstream's events behind `chunk`; None: a chunk of a translated call."""
    return chunk.events if isinstance(chunk, UpstreamChunk) else None
