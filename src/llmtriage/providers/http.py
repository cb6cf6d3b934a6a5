"""HTTP plumbing shared by the providers: deadlines, error translation, SSE.

httpx exceptions and non-2xx answers become the typed errors of
`providers/errors.py` here and nowhere else (`raise … from exc`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel, ValidationError

from llmtriage.errors import ProviderError
from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import (
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderTimeout,
    http_error,
)

M = TypeVar("M", bound=BaseModel)
USER_AGENT = "llmtriage/0.1"


@dataclass(frozen=True)
class SSEEvent:
    event: str | None
    data: str


def deadline_after(timeout: Timeouts) -> float:
    return asyncio.get_running_loop().time() + timeout.total


def first_token_at(timeout: Timeouts) -> float | None:
    """Loop time by which a stream's response head and first event must arrive."""
    if timeout.first_token is None:
        return None
    return asyncio.get_running_loop().time() + timeout.first_token


@contextmanager
def translate_errors(endpoint: Endpoint) -> Iterator[None]:
    """httpx transport failures and the total deadline → typed provider errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{type(exc).__name__} calling the provider", deployment=endpoint.deployment
        ) from exc
    except TimeoutError as exc:  # asyncio.timeout_at: the total deadline
        raise ProviderTimeout("total deadline passed", deployment=endpoint.deployment) from exc
    except httpx.TransportError as exc:
        raise ProviderConnectionError(
            f"{type(exc).__name__} calling the provider", deployment=endpoint.deployment
        ) from exc


@contextmanager
def _named_bound(request: httpx.Request, reason: str | None) -> Iterator[None]:
    """Names a passed first-token or idle deadline (translate_errors would call it the
    total); `reason` None: the total deadline is the one that applies."""
    try:
        yield
    except TimeoutError as exc:
        if reason is None:
            raise
        endpoint: Endpoint = request.extensions["llmtriage_endpoint"]
        raise ProviderTimeout(reason, deployment=endpoint.deployment) from exc


NO_FIRST_TOKEN = "no first token within the first_token timeout"


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    deadline: float,
    stream: bool,
    first_at: float | None = None,
) -> httpx.Response:
    """Send and, for a non-2xx answer, raise the typed error (body read and closed).

    The head must arrive by `first_at` (when given) and everything by `deadline`; a whole
    answer (`stream=False`) is read here, so only a stream leaves the body to the caller."""
    head_at = deadline if first_at is None else min(first_at, deadline)
    with _named_bound(request, NO_FIRST_TOKEN if head_at < deadline else None):
        async with asyncio.timeout_at(head_at):
            response = await client.send(request, stream=True)
    try:
        async with asyncio.timeout_at(deadline):
            if not (stream and response.is_success):
                await response.aread()
    finally:
        if not (stream and response.is_success):
            await response.aclose()
    if response.is_success:
        return response
    raise _status_error(response, request)


async def fetch_body(
    client: httpx.AsyncClient, request: httpx.Request, *, timeout: Timeouts
) -> bytes:
    """A whole (non-streamed) answer's body under `timeout`'s deadlines, or a typed error."""
    endpoint: Endpoint = request.extensions["llmtriage_endpoint"]
    with translate_errors(endpoint):
        # No first-token bound: a whole answer's head comes when its last token does.
        response = await send(client, request, deadline=deadline_after(timeout), stream=False)
    return response.content


def _status_error(response: httpx.Response, request: httpx.Request) -> ProviderHTTPError:
    endpoint: Endpoint = request.extensions["llmtriage_endpoint"]
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return http_error(
        deployment=endpoint.deployment,
        status=response.status_code,
        headers=response.headers,
        body=body,
        secret=endpoint.api_key,
    )


class Route:
    """One endpoint URL with its headers, parsed once: httpx's per-request URL and
    header merging costs more than the rest of the routing decision."""

    def __init__(self, endpoint: Endpoint, path: str, headers: Mapping[str, str]) -> None:
        self.endpoint = endpoint
        self.url = httpx.URL(endpoint.base_url.rstrip("/") + path)
        merged: dict[str, str] = {"content-type": "application/json", "user-agent": USER_AGENT}
        for layer in (endpoint.headers, headers):  # later layers win, whatever the case
            merged.update((name.lower(), value) for name, value in layer.items())
        self.headers = httpx.Headers(merged)
        self.stream_headers = httpx.Headers({**self.headers, "accept": "text/event-stream"})

    def request(self, body: bytes, *, timeout: Timeouts, stream: bool) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.url,
            headers=self.stream_headers if stream else self.headers,
            content=body,
            # The endpoint rides along so that errors can name the deployment and redact its key.
            extensions={"timeout": timeout.httpx_extension, "llmtriage_endpoint": self.endpoint},
        )


async def stream_events(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    deadline: float,
    first_at: float | None = None,
    idle_s: float | None = None,
) -> AsyncGenerator[SSEEvent, None]:
    """Server-sent events of a streamed POST, each read under the total deadline; the
    first one also under `first_at`, every later one within `idle_s` of the one before.

    Close it (`contextlib.aclosing`) when stopping early: that releases the connection."""
    response = await send(client, request, deadline=deadline, stream=True, first_at=first_at)
    # aiter_lines is an async generator; close it even when the caller stops early.
    lines_gen = cast(AsyncGenerator[str, None], response.aiter_lines())
    loop = asyncio.get_running_loop()
    started = False  # an event arrived: the idle bound applies from now on
    last = loop.time()  # of the last event, after the caller took it
    try:
        async with aclosing(lines_gen) as lines:
            parser = _SSEParser()
            while True:
                at, reason = deadline, None
                if not started and first_at is not None:
                    at, reason = first_at, NO_FIRST_TOKEN
                elif started and idle_s is not None:
                    at, reason = last + idle_s, f"stalled: no chunk for {idle_s:g} s (idle)"
                if at >= deadline:
                    at, reason = deadline, None
                with _named_bound(request, reason):
                    async with asyncio.timeout_at(at):
                        line = await anext(lines, None)
                if line is None:
                    break
                event = parser.feed(line)
                if event is not None:
                    started = True
                    yield event
                    last = loop.time()  # a slow consumer is not a stalled upstream
            if parser.data:
                yield SSEEvent(parser.event, "\n".join(parser.data))
    finally:
        await response.aclose()


async def drain(events: AsyncGenerator[SSEEvent, None], *, within_s: float) -> None:
    """Read what is left of a complete stream (a terminator at most), so that its
    connection is read to the end and reused; nothing that happens there can change a
    complete answer, so failures and a stall past `within_s` are ignored."""
    with contextlib.suppress(httpx.HTTPError, TimeoutError, ProviderError):
        async with asyncio.timeout(within_s):
            async for _ in events:
                pass


def open_events(
    client: httpx.AsyncClient, request: httpx.Request, *, timeout: Timeouts
) -> AsyncGenerator[SSEEvent, None]:
    """`stream_events` under `timeout`'s total, first-token and idle bounds; iterate it
    inside `translate_errors`."""
    return stream_events(
        client,
        request,
        deadline=deadline_after(timeout),
        first_at=first_token_at(timeout),
        idle_s=timeout.idle,
    )


class _SSEParser:
    """The subset of the SSE grammar LLM APIs use: event, data, comments, blank lines."""

    def __init__(self) -> None:
        self.event: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        if not line:
            done = SSEEvent(self.event, "\n".join(self.data)) if self.data else None
            self.event, self.data = None, []
            return done
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def parse_model(model: type[M], raw: str | bytes, endpoint: Endpoint) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ProviderProtocolError(
            f"unparseable {model.__name__} from the provider", deployment=endpoint.deployment
        ) from exc


def parse_json(raw: str, endpoint: Endpoint) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ProviderProtocolError(
            "invalid JSON event from the provider", deployment=endpoint.deployment
        ) from exc
    if not isinstance(value, dict):
        raise ProviderProtocolError("JSON event is not an object", deployment=endpoint.deployment)
    return value
