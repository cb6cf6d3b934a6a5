"""Typed upstream failures, translated from httpx and HTTP statuses at the boundary.

    ProviderError (llmtriage.errors)
    └── ProviderCallError          one failed call to one deployment
        ├── ProviderKeyMissing     no API key in the environment; nothing was sent
        ├── ProviderConnectionError  connect refused, reset, DNS, dropped mid-body
        ├── ProviderTimeout        connect / read / total deadline passed
        ├── ProviderProtocolError  a 2xx whose body or SSE stream cannot be parsed
        ├── ProviderStreamError    the provider sent an error event mid-stream
        └── ProviderHTTPError      a non-2xx answer: status, headers, body, retry_after
            ├── ProviderBadRequest      400 / 409 / 413 / 422: the request itself
            │   └── ContextWindowExceeded
            ├── ProviderAuthError       401 / 403: the deployment's credentials
            ├── ProviderNotFound        404: wrong model or base_url in the config
            ├── ProviderRateLimited     429
            ├── ProviderOverloaded      503 / 529
            └── ProviderServerError     other 5xx (and 408)

Every error carries `deployment`, a `kind` and whether a retry elsewhere may help
(`retryable`); fallback chains decide on these, never on message text. Nothing
here holds an API key: messages are built from the deployment name and the
provider's own error text, with the key redacted should the provider echo it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from llmtriage.errors import ProviderError


class ErrorKind(StrEnum):
    KEY_MISSING = "key_missing"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"
    STREAM = "stream"
    BAD_REQUEST = "bad_request"
    CONTEXT_WINDOW = "context_window"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER = "server"


class ProviderCallError(ProviderError):
    kind: ClassVar[ErrorKind]
    retryable: ClassVar[bool]

    def __init__(self, message: str, *, deployment: str) -> None:
        super().__init__(f"deployment '{deployment}': {message}")
        self.deployment = deployment
        self.detail = message


class ProviderKeyMissing(ProviderCallError):
    kind = ErrorKind.KEY_MISSING
    retryable = False

    def __init__(self, *, deployment: str, env_var: str) -> None:
        super().__init__(
            f"no API key: set the environment variable {env_var}", deployment=deployment
        )
        self.env_var = env_var


class ProviderConnectionError(ProviderCallError):
    kind = ErrorKind.CONNECTION
    retryable = True


class ProviderTimeout(ProviderCallError):
    kind = ErrorKind.TIMEOUT
    retryable = True


class ProviderProtocolError(ProviderCallError):
    kind = ErrorKind.PROTOCOL
    retryable = False


class ProviderStreamError(ProviderCallError):
    """An error event inside a 200 stream (e.g. Anthropic's `overloaded_error`)."""

    kind = ErrorKind.STREAM
    retryable = True

    def __init__(self, message: str, *, deployment: str, error_type: str | None) -> None:
        super().__init__(message, deployment=deployment)
        self.error_type = error_type


class ProviderHTTPError(ProviderCallError):
    kind = ErrorKind.SERVER
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        deployment: str,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        provider_message: str | None,
        provider_code: str | None,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.status = status
        self.headers = dict(headers)
        self.body = body
        self.provider_message = provider_message
        self.provider_code = provider_code
        self.retry_after = parse_retry_after(headers)


class ProviderBadRequest(ProviderHTTPError):
    kind = ErrorKind.BAD_REQUEST
    retryable = False


class ContextWindowExceeded(ProviderBadRequest):
    kind = ErrorKind.CONTEXT_WINDOW


class ProviderAuthError(ProviderHTTPError):
    kind = ErrorKind.AUTH
    retryable = False


class ProviderNotFound(ProviderHTTPError):
    kind = ErrorKind.NOT_FOUND
    retryable = False


class ProviderRateLimited(ProviderHTTPError):
    kind = ErrorKind.RATE_LIMITED
    retryable = True


class ProviderOverloaded(ProviderHTTPError):
    kind = ErrorKind.OVERLOADED
    retryable = True


class ProviderServerError(ProviderHTTPError):
    kind = ErrorKind.SERVER
    retryable = True


_BY_STATUS: dict[int, type[ProviderHTTPError]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderNotFound,
    408: ProviderServerError,
    409: ProviderBadRequest,
    413: ProviderBadRequest,
    422: ProviderBadRequest,
    429: ProviderRateLimited,
    503: ProviderOverloaded,
    529: ProviderOverloaded,
}

# Provider error codes / types that mean "the prompt does not fit this model".
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})


def http_error(
    *, deployment: str, status: int, headers: Mapping[str, str], body: Any, secret: str | None
) -> ProviderHTTPError:
    """The typed error for a non-2xx answer (OpenAI and Anthropic error bodies both)."""
    message, code = provider_message(body)
    if secret and message:
        message = message.replace(secret, "[redacted]")
    cls = _BY_STATUS.get(status, ProviderServerError if status >= 500 else ProviderBadRequest)
    if cls is ProviderBadRequest and (code in _CONTEXT_CODES or _mentions_context(message)):
        cls = ContextWindowExceeded
    summary = f"HTTP {status}" + (f": {message}" if message else "")
    return cls(
        summary,
        deployment=deployment,
        status=status,
        headers=headers,
        body=body,
        provider_message=message,
        provider_code=code,
    )


def provider_message(body: Any) -> tuple[str | None, str | None]:
    # OpenAI: {"error": {"message", "type", "code"}}; Anthropic: {"type": "error", "error": {...}}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code") or error.get("type")
        return (str(message) if message else None, str(code) if code else None)
    if isinstance(body, str) and body.strip():
        return body.strip()[:500], None
    return None, None


def _mentions_context(message: str | None) -> bool:
    text = (message or "").lower()
    return "context length" in text or "context window" in text or "prompt is too long" in text


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `retry-after-ms` (OpenAI), else `retry-after` in seconds or as a date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
