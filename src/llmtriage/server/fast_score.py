"""The hot path of `POST /v1/score`, served straight from ASGI.

FastAPI's stack (error and exception middleware, its telemetry and body-limit layers,
our guard and metrics middleware, route matching over every route, the request object,
the response class) costs about three quarters of what scoring a short prompt does:
in-process, a request through it takes about 1.5× as long as one answered here
(`python -m bench.run --only asgi`; docs/bench.md has the saved run). A scoring
service lives or dies by requests per core, so the common case, a well-formed JSON
body within the size limit on a ready service, is answered here with the very same
functions the FastAPI route calls (`score_one`, `json_body`), and counted in the same
metrics.

Anything else, and every error, goes to the FastAPI app unchanged: the body read
so far is replayed to it, so its validation, 4xx shapes and 500 guard stay the one
source of truth. The route stays registered, so OpenAPI still documents it, and
`fast_score_path: false` turns this path off.

It stands in for this app's own middleware only (auth and rate limit through the gate,
the body limit, the metrics). As soon as the app carries any other layer (CORS,
OpenTelemetry, a user's own), `LlmtriageApp.build_middleware_stack` turns it off with a
log line, so no middleware is ever skipped (tests/proxy/test_proxy_middleware.py).
"""

from __future__ import annotations

import logging
import time

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmtriage.server.auth import TENANT_SCOPE_KEY
from llmtriage.server.errors import (
    CLIENT_CLOSED,
    internal_error,
    log_crash,
    log_disconnect,
    send_error,
)
from llmtriage.server.routes.score import ScoreItem, json_body, score_one
from llmtriage.server.state import AppState

logger = logging.getLogger("llmtriage.server")

PATH = "/v1/score"
_JSON_HEADERS = ((b"content-type", b"application/json"),)


class FastScorePath:
    """Serves the happy path of `POST /v1/score`; hands everything else to `app`."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    def accepts(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and self.state.model is not None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        length = _plain_json_length(scope["headers"])
        if length is None or length > self.state.settings.max_body_bytes:
            await self.app(scope, receive, send)  # untouched: the app's guard decides
            return
        raw, more = await _read_body(receive, length)
        if more is None:  # the client went away: not an error, counted as such
            log_disconnect(scope)
            self.state.metrics.observe_request(
                PATH, "POST", CLIENT_CLOSED, time.perf_counter() - started
            )
            return
        if more or len(raw) != length:
            await self.app(scope, _replay(raw, more, receive), send)
            return
        try:
            item = ScoreItem.model_validate_json(raw)
        except ValidationError:
            await self.app(scope, _replay(raw, False, receive), send)
            return
        model = self.state.model
        if model is None:  # `accepts` saw it loaded; should that change, the app says 503
            await self.app(scope, _replay(raw, False, receive), send)
            return
        status = 200
        try:
            tenant = scope.get(TENANT_SCOPE_KEY)
            body = json_body(await score_one(self.state, model, item.text(), tenant))
        except Exception as exc:  # the guard's rule: a crash becomes an OpenAI-shaped 500
            log_crash(scope, exc)
            status = 500
            await send_error(send, internal_error())
        else:
            headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        self.state.metrics.observe_request(PATH, "POST", status, time.perf_counter() - started)


def _plain_json_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """Content-Length of a JSON body sent in one piece, else None (let the app handle it)."""
    length: int | None = None
    json = False
    for name, value in headers:
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None  # repeated or malformed: the app's error path
            length = int(value)
        elif name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            json = media == b"application/json"
        elif name == b"transfer-encoding":
            return None
    return length if json else None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool | None]:
    """Up to `limit` bytes of body; `more` says whether more is coming, None on disconnect."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size > limit:
            return b"".join(chunks), more


def _replay(raw: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that yields the bytes already read, then the rest of the stream."""
    replayed = False

    async def replaying() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": raw, "more_body": more}

    return replaying
