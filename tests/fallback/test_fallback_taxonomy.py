"""The error taxonomy: every provider error kind has exactly one action."""

from __future__ import annotations

import pytest

from llmtriage.fallback.taxonomy import TABLE, Action, Health, classify
from llmtriage.providers.errors import ContextWindowExceeded, ErrorKind
from tests.fallback.fakes import TRANSPORT, status


def test_every_error_kind_has_a_rule() -> None:
    assert set(TABLE) == set(ErrorKind)


@pytest.mark.parametrize(
    ("code", "action", "health"),
    [
        (429, Action.RETRY, Health.DOWN),
        (500, Action.RETRY, Health.DOWN),
        (502, Action.RETRY, Health.DOWN),
        (503, Action.RETRY, Health.DOWN),
        (504, Action.RETRY, Health.DOWN),
        (529, Action.RETRY, Health.DOWN),
        (408, Action.RETRY, Health.DOWN),
        (400, Action.FAIL_FAST, Health.UP),
        (401, Action.FAIL_FAST, Health.UP),
        (403, Action.FAIL_FAST, Health.UP),
        (404, Action.FAIL_FAST, Health.UP),
        (409, Action.FAIL_FAST, Health.UP),
        (413, Action.FAIL_FAST, Health.UP),
        (422, Action.FAIL_FAST, Health.UP),
        (418, Action.FAIL_FAST, Health.UP),  # an unknown 4xx is the request's fault
    ],
)
def test_http_statuses(code: int, action: Action, health: Health) -> None:
    rule = classify(status(code))
    assert (rule.action, rule.health) == (action, health)


@pytest.mark.parametrize(
    "error",
    [
        status(400, code="context_length_exceeded"),
        status(400, message="This model's maximum context length is 8192 tokens"),
        status(400, message="prompt is too long: 250000 tokens > 200000 maximum"),
    ],
    ids=["openai-code", "openai-text", "anthropic-text"],
)
def test_context_length_goes_to_a_larger_window(error: Exception) -> None:
    assert isinstance(error, ContextWindowExceeded)
    assert classify(error).action is Action.LARGER_CONTEXT


@pytest.mark.parametrize(
    "error",
    [
        status(400, code="content_policy_violation", message="Your request was rejected"),
        status(400, code="content_filter", message="The response was filtered"),
    ],
    ids=["openai", "azure"],
)
def test_content_policy_refusals_fail_fast(error: Exception) -> None:
    assert not isinstance(error, ContextWindowExceeded)
    assert classify(error).action is Action.FAIL_FAST  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "action", "health"),
    [
        ("connection", Action.RETRY, Health.DOWN),  # a reset is often gone a moment later
        ("timeout", Action.NEXT, Health.DOWN),  # it has already cost its bound
        ("protocol", Action.NEXT, Health.DOWN),
        ("stream", Action.NEXT, Health.DOWN),
        ("key_missing", Action.NEXT, Health.UNKNOWN),
    ],
)
def test_transport_and_stream_failures(kind: str, action: Action, health: Health) -> None:
    rule = classify(TRANSPORT[kind]())
    assert (rule.action, rule.health) == (action, health)
