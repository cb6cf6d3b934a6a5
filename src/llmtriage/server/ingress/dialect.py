"""Each ingress API's errors: its body shape and its statuses.

Domain errors are described once (server/routes/proxy.py: `describe`); a dialect turns
that (status, code, message) into what its clients' SDKs expect. Anthropic's API has
its own statuses (no 422 or 502/503: 400, 500, 529) and shape
`{"type": "error", "error": {"type", "message"}}`; the Responses API shares OpenAI's
`{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmtriage.errors import InputError, LlmtriageError
from llmtriage.fallback.errors import ChainExhausted, FallbackError
from llmtriage.providers.errors import ProviderCallError, ProviderHTTPError
from llmtriage.routing.errors import RoutingError
from llmtriage.server.errors import ApiError, error_body
from llmtriage.server.routes.proxy import attempt_headers, describe


@dataclass(frozen=True)
class Failure:
    """An error as any dialect needs it: status, code, message, and what goes with it."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] | None = None
    attempts: list[dict[str, Any]] | None = None  # an exhausted chain's attempts


def failure_of(exc: Exception) -> Failure | None:
    """What `exc` tells the client; None: not an error the ingress answers (a crash)."""
    if isinstance(exc, RoutingError | ProviderCallError | FallbackError):
        status, code, message = describe(exc)
        headers = None
        if isinstance(exc, ProviderHTTPError) and exc.retry_after is not None:
            headers = {"retry-after": str(math.ceil(exc.retry_after))}
        if isinstance(exc, ChainExhausted):
            attempts = [attempt.to_dict() for attempt in exc.attempts]
            return Failure(status, message, code, None, attempt_headers(exc.attempts), attempts)
        return Failure(status, message, code, None, headers)
    if isinstance(exc, InputError):
        return Failure(400, str(exc), exc.code or "invalid_request", exc.param)
    if isinstance(exc, ApiError):
        return Failure(exc.status, str(exc), exc.code, exc.param)
    if isinstance(exc, StarletteHTTPException):  # the body limit while the body streams in
        return Failure(exc.status_code, str(exc.detail), "request_too_large")
    if isinstance(exc, LlmtriageError):
        return Failure(400, str(exc), "invalid_request")
    return None


class Dialect:
    """One API's error format."""

    def status(self, status: int) -> int:
        return status

    def body(self, failure: Failure) -> dict[str, Any]:
        raise NotImplementedError

    def response(self, failure: Failure) -> JSONResponse:
        return JSONResponse(
            self.body(failure), status_code=self.status(failure.status), headers=failure.headers
        )

    def shape(self, err: ApiError) -> tuple[int, dict[str, Any]]:
        """For the middleware's refusals (auth, rate limit): server/errors.py `ErrorShape`."""
        failure = Failure(err.status, str(err), err.code, err.param)
        return self.status(err.status), self.body(failure)

    def event(self, failure: Failure) -> bytes:
        """The error as this API's in-stream event (the headers are gone)."""
        raise NotImplementedError


# Anthropic's documented statuses and error types; ours map onto the nearest.
_ANTHROPIC_STATUS = {415: 400, 422: 400, 502: 500, 503: 529}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # an exhausted chain adds `attempts`

    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    """Every error of the Messages API: `{"type": "error", "error": {"type", "message"}}`."""

    type: Literal["error"]
    error: AnthropicErrorDetail


ANTHROPIC_ERRORS = {
    400: "Malformed or wrong-shaped body, a routing error, or an upstream's fail-fast 4xx",
    401: "Missing or wrong key (x-api-key or Authorization: Bearer)",
    403: "A rule forbids every tier the request could use",
    404: "Unknown model or deployment",
    413: "Body larger than max_body_bytes",
    429: "This client key's rate limit, or the upstream's",
    500: "The upstream failed or rejected the proxy's credentials",
    504: "The upstream timed out",
    529: "Every deployment of the fallback chain failed, or one has no API key",
}


def anthropic_error_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` of the Messages routes: Anthropic's statuses and shape."""
    return {
        status: {"model": AnthropicErrorBody, "description": text}
        for status, text in ANTHROPIC_ERRORS.items()
    }


class AnthropicDialect(Dialect):
    def status(self, status: int) -> int:
        return _ANTHROPIC_STATUS.get(status, status)

    def _error(self, failure: Failure) -> dict[str, Any]:
        status = self.status(failure.status)
        kind = _ANTHROPIC_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        error: dict[str, Any] = {"type": kind, "message": failure.message}
        if failure.attempts is not None:
            error["attempts"] = failure.attempts
        return error

    def body(self, failure: Failure) -> dict[str, Any]:
        return {"type": "error", "error": self._error(failure)}

    def event(self, failure: Failure) -> bytes:
        data = json.dumps(self.body(failure), separators=(",", ":"))
        return f"event: error\ndata: {data}\n\n".encode()


class OpenAIDialect(Dialect):
    def body(self, failure: Failure) -> dict[str, Any]:
        body = error_body(
            failure.message, status=failure.status, param=failure.param, code=failure.code
        )
        if failure.attempts is not None:
            body["error"]["attempts"] = failure.attempts
        return body

    def event(self, failure: Failure) -> bytes:
        raise NotImplementedError("the Responses stream numbers its events: responses_stream.py")


ANTHROPIC = AnthropicDialect()
OPENAI = OpenAIDialect()
