"""The error taxonomy: status mapping, Retry-After parsing, key redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from llmtriage.errors import ProviderError
from llmtriage.providers.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderHTTPError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
    http_error,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, ProviderBadRequest, False),
        (401, ProviderAuthError, False),
        (403, ProviderAuthError, False),
        (404, ProviderNotFound, False),
        (408, ProviderServerError, True),
        (429, ProviderRateLimited, True),
        (500, ProviderServerError, True),
        (502, ProviderServerError, True),
        (503, ProviderOverloaded, True),
        (529, ProviderOverloaded, True),
        (418, ProviderBadRequest, False),
    ],
)
def test_status_to_class(status: int, cls: type[ProviderHTTPError], retryable: bool) -> None:
    error = http_error(deployment="d", status=status, headers={}, body={}, secret=None)
    assert type(error) is cls and error.retryable is retryable and isinstance(error, ProviderError)
    assert error.status == status


def test_context_window_from_anthropic_message() -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 300000"},
    }
    assert isinstance(
        http_error(deployment="d", status=400, headers={}, body=body, secret=None),
        ContextWindowExceeded,
    )


def test_provider_echoing_the_key_is_redacted() -> None:
    body = {"error": {"message": "key sk-secret-123 is revoked"}}
    error = http_error(deployment="d", status=400, headers={}, body=body, secret="sk-secret-123")
    assert "sk-secret-123" not in str(error) and "[redacted]" in str(error)


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After-Ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": later}) or 0) <= 30
