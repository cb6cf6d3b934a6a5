"""OpenAI-style error bodies, and the one place domain errors become HTTP statuses.

Every error response is `{"error": {"message", "type", "param", "code"}}` so that
OpenAI SDK clients surface it as they would an upstream error.

Statuses: 400 malformed JSON / invalid UTF-8 / `InputError`; 401 / 403 the auth
policy (server/auth.py); 413 body over `max_body_bytes`; 415 a body that is not
declared JSON; 422 well-formed JSON of the wrong shape; 429 the per-key rate limit;
499 (counted, never sent) a client that went away before its answer; 500 anything
unexpected (logged by type and place, never with the request text or the exception
message, which may quote the prompt). The server's protocol (server/protocol.py)
answers 400, 408 and 503 for what never reaches the app. `error_responses` declares
them in OpenAPI with the `ErrorBody` schema.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmtriage.errors import InputError

logger = logging.getLogger("llmtriage.server")

# nginx's "client closed request": what the metrics count for a client that went away
# before its answer started (never sent: there is no one to send it to).
CLIENT_CLOSED = 499

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}

# Machine-readable `code` for errors raised as plain HTTPExceptions (router, body limit).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


class ErrorDetail(BaseModel):
    """The OpenAI error object; a 503 of an exhausted chain adds `attempts`."""

    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"message", "type", "param", "code"}}`."""

    error: ErrorDetail


# What every operation may answer besides its own statuses (see server/auth.py).
AUTH_ERRORS = {
    401: "Missing or wrong key, where the auth policy asks for one",
    403: "A client key on an admin endpoint",
}
# What an operation behind a client key may answer (server/ratelimit.py).
RATE_ERRORS = {429: "This client key's request rate is over rate_limit_rps (Retry-After)"}
# What every operation with a JSON body may answer.
BODY_ERRORS = {
    400: "Malformed JSON (NaN and Infinity included) or invalid UTF-8",
    413: "Body larger than max_body_bytes",
    415: "Body not sent as application/json",
    422: "Well-formed JSON of the wrong shape or type",
}


def error_responses(*groups: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, each with the error body's schema (later
    groups' descriptions win)."""
    merged: dict[int, str] = {}
    for statuses in (AUTH_ERRORS, *groups):
        merged.update(statuses)
    return {
        status: {"model": ErrorBody, "description": text} for status, text in sorted(merged.items())
    }


def error_body(
    message: str, *, status: int, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            ),
            "param": param,
            "code": code,
        }
    }


def error_response(
    message: str,
    *,
    status: int,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, status=status, param=param, code=code),
        status_code=status,
        headers=headers,
    )


class ApiError(Exception):
    """An error the web layer answers with a given status (raised by routes and middleware)."""

    def __init__(
        self, message: str, *, status: int, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    kind = str(first.get("type", ""))
    if kind in ("json_invalid", "value_error.jsondecode"):
        ctx = first.get("ctx")
        reason = ctx.get("error") if isinstance(ctx, dict) else first.get("msg")
        return error_response(
            f"request body is not valid JSON: {reason}",
            status=400,
            code="invalid_json",
        )
    if param is None and isinstance(first.get("input"), bytes):
        # FastAPI leaves the body as bytes when Content-Type is not JSON.
        return error_response(
            "request body must be JSON sent with 'Content-Type: application/json'",
            status=415,
            code="unsupported_media_type",
        )
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    message = f"{param}: {msg}" if param else msg
    return error_response(message, status=422, param=param, code=kind or None)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's generic "error parsing the body"
        return error_response("request body is not valid UTF-8", status=400, code="invalid_utf8")
    headers = dict(exc.headers) if exc.headers else None
    code = _HTTP_CODES.get(exc.status_code)
    return error_response(str(exc.detail), status=exc.status_code, code=code, headers=headers)


async def _input(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    return error_response(str(exc), status=400, param=exc.param, code=exc.code)


async def _api(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(str(exc), status=exc.status, param=exc.param, code=exc.code)


async def _disconnect(request: Request, exc: Exception) -> Response:
    log_disconnect(request.scope)
    return Response(status_code=CLIENT_CLOSED)  # dropped by the server; seen by the metrics


def log_disconnect(scope: Scope) -> None:
    """A client that went away before or while sending its body: not an error of ours."""
    logger.debug("client disconnected on %s %s", scope.get("method"), scope.get("path"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _disconnect)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(InputError, _input)
    app.add_exception_handler(ApiError, _api)


class GuardMiddleware:
    """Pure ASGI guard: body size limit, and a 500 in the OpenAI shape for any crash.

    Pure ASGI rather than `BaseHTTPMiddleware`: no extra task or stream copy per
    request. The limit is checked against Content-Length before any byte is read
    and again while the body streams in (chunked uploads have no Content-Length).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_error(send, _too_large(limit))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # HTTPException passes FastAPI's body reader untouched -> the 413 handler.
                    raise StarletteHTTPException(413, _too_large(limit).args[0])
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ClientDisconnect:
            log_disconnect(scope)  # the metrics count it as CLIENT_CLOSED
        except Exception as exc:  # the one catch-all: the last line before a bare 500
            log_crash(scope, exc)
            if not started:
                await send_error(send, internal_error())


def internal_error() -> ApiError:
    """What a client sees of a crash: no exception text (it may quote the prompt)."""
    return ApiError("internal error while handling the request", status=500, code="internal_error")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        f"request body exceeds the limit of {limit} bytes", status=413, code="request_too_large"
    )


# A route that speaks another API's error format (the Anthropic Messages ingress) maps an
# error to its own status and body; the middleware answers its refusals that way too.
ErrorShape = Callable[[ApiError], tuple[int, dict[str, Any]]]


async def send_error(
    send: Send,
    err: ApiError,
    headers: dict[str, str] | None = None,
    shape: ErrorShape | None = None,
) -> None:
    status = err.status
    if shape is not None:
        status, payload = shape(err)
    else:
        payload = error_body(str(err), status=err.status, param=err.param, code=err.code)
    body = json.dumps(payload, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if err.status in (401, 403, 408, 413, 429):
        raw.append((b"connection", b"close"))  # the unread body makes the connection unusable
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def log_crash(scope: Scope, exc: BaseException) -> None:
    # Type and frames only: the message of e.g. a ValueError may quote the prompt.
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-6:])
    )
    logger.error(
        "unhandled %s on %s %s at %s",
        type(exc).__name__,
        scope.get("method"),
        scope.get("path"),
        where,
    )
