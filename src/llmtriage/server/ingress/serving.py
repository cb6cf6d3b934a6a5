"""Calling the routing service for an ingress, as the chat-completions route does: the
same telemetry, decision headers and cancellation when the client leaves, with the
answer handed to the ingress's own writer.

A stream relays the routed chunks through a `StreamWriter` (the API's SSE events); an
upstream failure after the stream started becomes the API's error event. The cost and a
resumed stream's trailer go out as SSE comment lines, which SDK clients skip.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol

import anyio
from fastapi import Request

from llmtriage.execution.served import Completion
from llmtriage.execution.streaming import RoutedStream
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.types import ChatChunk, ChatRequest
from llmtriage.routing.cost import format_cost
from llmtriage.server.ingress.dialect import Failure, failure_of
from llmtriage.server.routes.proxy import (
    _unless_client_leaves,
    cascade_headers,
    served_headers,
)
from llmtriage.server.state import request_telemetry
from llmtriage.server.telemetry import CallTelemetry
from llmtriage.service import RoutingService

log = logging.getLogger(__name__)
STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class StreamWriter(Protocol):
    def feed(self, chunk: ChatChunk) -> list[bytes]: ...

    def end(self) -> list[bytes]: ...

    def error(self, failure: Failure) -> list[bytes]: ...


async def complete(
    request: Request, service: RoutingService, chat: ChatRequest, headers: Mapping[str, str]
) -> tuple[Completion, dict[str, str]]:
    """The whole answer and the headers that explain it."""
    seen = CallTelemetry(request_telemetry(request), service.config, body=chat, headers=headers)
    done = await _unless_client_leaves(request, service.complete(chat, headers))
    await seen.decided(done.decision)
    served = done.served
    seen.completed(
        seen.answered_as(done.decision, done.cascade), served.config, done.response.usage
    )
    seen.log_completion(done)
    out = (
        served_headers(done.decision, served.tier, served.config, done.attempts, seen.decision_id)
        | cascade_headers(done.cascade)
        | {"x-llmtriage-cost": format_cost(done.cost)}
    )
    return done, out


async def open_stream(
    request: Request, service: RoutingService, chat: ChatRequest, headers: Mapping[str, str]
) -> tuple[RoutedStream, CallTelemetry, dict[str, str]]:
    """The routed stream, opened up to its first token (errors before it raise here)."""
    seen = CallTelemetry(request_telemetry(request), service.config, body=chat, headers=headers)
    stream = await service.stream(chat, headers)
    await seen.decided(stream.decision)
    out = (
        served_headers(
            stream.decision, stream.tier, stream.deployment, stream.attempts, seen.decision_id
        )
        | cascade_headers(stream.cascade)
        | STREAM_HEADERS
    )
    return stream, seen, out


async def relay(
    stream: RoutedStream,
    seen: CallTelemetry,
    writer: StreamWriter,
    on_end: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """The stream's events; `on_end` runs after an answer that ended whole."""
    ended = False  # the upstream's stream ended or failed (not: the client went away)
    try:
        async for chunk in stream:
            for data in writer.feed(chunk):
                yield data
        ended = True
    except ProviderCallError as exc:  # the headers are gone: in-band, as the APIs do
        ended = True
        seen.log_stream(stream, "error")
        failure = failure_of(exc) or Failure(502, "upstream error")
        for data in writer.error(failure):
            yield data
        return
    finally:
        with anyio.CancelScope(shield=True):  # a client disconnect must still free the upstream
            await stream.aclose()
        answered = seen.answered_as(stream.decision, stream.cascade)
        if not ended:
            log.debug("client disconnected mid-stream: upstream stream closed")
            seen.completed(answered, stream.deployment, stream.usage)
            seen.log_stream(stream, "client_closed")
    seen.completed(answered, stream.deployment, stream.usage)
    seen.log_stream(stream, "ok")
    for data in writer.end():
        yield data
    for name, value in stream.trailer().items():
        yield f": {name}={value}\n\n".encode()
    yield f": x-llmtriage-cost={format_cost(stream.cost)}\n\n".encode()
    if on_end is not None:
        await on_end()
