"""Whole answers under injected faults: what the client got, and who was called how often."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.chaos.harness import chaos_config, running, sdk
from tests.chaos.upstream import FakeUpstream, http, malformed, reset, silent, slow

Up = dict[str, FakeUpstream]
USER: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def client(urls: dict[str, str]) -> Iterator[openai.OpenAI]:
    with running(chaos_config(urls)) as url, sdk(url) as client:
        yield client


def ask(client: openai.OpenAI) -> tuple[httpx.Headers, Any, float]:
    start = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model="cheap", messages=USER)
    return raw.headers, raw.parse(), time.monotonic() - start


def calls(up: Up) -> dict[str, int]:
    return {name: fake.calls for name, fake in up.items()}


def test_healthy_chain_answers_from_the_first(up: Up, client: openai.OpenAI) -> None:
    headers, answer, _ = ask(client)
    assert answer.choices[0].message.content == "answer from a" and answer.model == "model-a"
    assert headers["x-llmtriage-attempts"] == "1" and "x-llmtriage-fallbacks" not in headers
    assert calls(up) == {"a": 1, "b": 0, "c": 0}


def test_429_with_retry_after_is_retried_after_the_wait(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(http(429, "slow down", retry_after_ms="200"))
    headers, answer, elapsed = ask(client)
    assert answer.model == "model-a" and elapsed >= 0.2
    assert headers["x-llmtriage-attempts"] == "2" and "x-llmtriage-fallbacks" not in headers
    assert calls(up) == {"a": 2, "b": 0, "c": 0}


def test_429_with_a_long_retry_after_moves_on_at_once(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(http(429, "slow down", retry_after="30"))
    headers, answer, elapsed = ask(client)
    assert answer.model == "model-b" and elapsed < 1.0
    assert headers["x-llmtriage-fallbacks"] == "a=rate_limited"
    assert calls(up) == {"a": 1, "b": 1, "c": 0}


def test_persistent_429_gives_up_after_max_retries(up: Up, client: openai.OpenAI) -> None:
    up["a"].chooser = lambda _: http(429, "quota", retry_after_ms="50")
    headers, answer, _ = ask(client)
    assert answer.model == "model-b" and headers["x-llmtriage-model"] == "model-b"
    assert headers["x-llmtriage-attempts"] == "4"  # 1 + max_retries (2) on a, then b
    assert calls(up) == {"a": 3, "b": 1, "c": 0}


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_5xx_once_is_retried_on_the_same_deployment(
    up: Up, client: openai.OpenAI, status: int
) -> None:
    up["a"].script.append(http(status, "upstream broke"))
    headers, answer, _ = ask(client)
    assert answer.choices[0].message.content == "answer from a"
    assert headers["x-llmtriage-deployment"] == "a" and headers["x-llmtriage-attempts"] == "2"
    assert "x-llmtriage-fallbacks" not in headers
    assert calls(up) == {"a": 2, "b": 0, "c": 0}


@pytest.mark.parametrize("status", [500, 503])
def test_a_persistent_5xx_is_retried_then_falls_back(
    up: Up, client: openai.OpenAI, status: int
) -> None:
    up["a"].chooser = lambda _: http(status, "upstream broke")
    headers, answer, _ = ask(client)
    assert answer.choices[0].message.content == "answer from b"
    assert headers["x-llmtriage-deployment"] == "b" and headers["x-llmtriage-tier"] == "cheap"
    kind = {500: "server", 503: "overloaded"}[status]
    assert headers["x-llmtriage-fallbacks"] == f"a={kind}"
    assert calls(up) == {"a": 3, "b": 1, "c": 0}  # 1 + max_retries (2) on a, then b


def test_connection_reset_before_headers_is_retried(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(reset())
    headers, answer, _ = ask(client)
    assert answer.model == "model-a" and "x-llmtriage-fallbacks" not in headers
    assert calls(up) == {"a": 2, "b": 0, "c": 0}


def test_silent_provider_times_out_at_read(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(silent())
    headers, answer, elapsed = ask(client)
    assert answer.model == "model-b" and headers["x-llmtriage-fallbacks"] == "a=timeout"
    assert 0.95 <= elapsed < 1.8  # a whole answer: read (1 s), not first_token (0.5 s)
    assert calls(up) == {"a": 1, "b": 1, "c": 0}


def test_slow_first_byte_of_a_whole_answer(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(slow(3.0))
    headers, answer, elapsed = ask(client)
    assert answer.model == "model-b" and headers["x-llmtriage-fallbacks"] == "a=timeout"
    assert elapsed < 1.8


def test_unparseable_answer_moves_on(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(malformed())
    headers, answer, _ = ask(client)
    assert answer.model == "model-b" and headers["x-llmtriage-fallbacks"] == "a=protocol"


def test_tier_down_falls_back_to_the_neighbour_tier(up: Up, client: openai.OpenAI) -> None:
    up["a"].chooser = lambda _: http(503)
    up["b"].chooser = lambda _: reset()
    headers, answer, _ = ask(client)
    assert answer.model == "model-c" and headers["x-llmtriage-tier"] == "strong"
    assert headers["x-llmtriage-fallbacks"] == "a=overloaded,b=connection"
    assert headers["x-llmtriage-attempts"] == "7"  # 3 on a, 3 on b, 1 on c


def test_context_length_goes_straight_to_a_larger_window(up: Up, client: openai.OpenAI) -> None:
    up["a"].script.append(
        http(
            400,
            "This model's maximum context length is 8000 tokens",
            code="context_length_exceeded",
        )
    )
    headers, answer, _ = ask(client)
    assert answer.model == "model-c"  # b has the same 8k window: skipped, not called
    assert headers["x-llmtriage-fallbacks"] == "a=context_window"
    assert calls(up) == {"a": 1, "b": 0, "c": 1}


def test_content_policy_refusal_fails_fast_with_the_provider_error(
    up: Up, client: openai.OpenAI
) -> None:
    up["a"].script.append(
        http(400, "Your request was rejected by our safety system", code="content_policy_violation")
    )
    with pytest.raises(openai.BadRequestError) as info:
        ask(client)
    assert info.value.status_code == 400 and info.value.code == "content_policy_violation"
    assert "rejected by our safety system" in info.value.message
    assert calls(up) == {"a": 1, "b": 0, "c": 0}


@pytest.mark.parametrize(
    ("status", "error"), [(422, openai.UnprocessableEntityError), (404, openai.NotFoundError)]
)
def test_other_4xx_fail_fast_with_the_same_status(
    up: Up, client: openai.OpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    up["a"].script.append(http(status, "no such thing", code="invalid_value"))
    with pytest.raises(error) as info:
        ask(client)
    assert info.value.status_code == status and info.value.code == "invalid_value"
    assert calls(up) == {"a": 1, "b": 0, "c": 0}


def test_whole_chain_down_is_a_503_listing_the_attempts(up: Up, urls: dict[str, str]) -> None:
    up["a"].script.append(http(500, "boom"))
    up["b"].script.append(reset())
    up["c"].script.append(http(529, "overloaded"))
    with running(chaos_config(urls, fallback={"max_retries": 0})) as url:
        response = httpx.post(
            url + "/v1/chat/completions", json={"model": "cheap", "messages": USER}
        )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "all_deployments_failed" and error["type"] == "service_unavailable"
    assert [(a["deployment"], a["outcome"], a["status"]) for a in error["attempts"]] == [
        ("a", "server", 500),
        ("b", "connection", None),
        ("c", "overloaded", 529),
    ]
    assert "a: HTTP 500 (server)" in error["message"] and "b: connection" in error["message"]
    assert response.headers["x-llmtriage-attempts"] == "3"


def test_deadline_bounds_the_whole_chain(up: Up, urls: dict[str, str]) -> None:
    for name in "abc":
        up[name].chooser = lambda _: silent()
    config = chaos_config(urls, fallback={"deadline_s": 0.8})
    with running(config) as url:
        start = time.monotonic()
        response = httpx.post(
            url + "/v1/chat/completions", json={"model": "cheap", "messages": USER}, timeout=10
        )
        elapsed = time.monotonic() - start
    assert response.status_code == 503 and elapsed < 1.5
    outcomes = [a["outcome"] for a in response.json()["error"]["attempts"]]
    assert outcomes[:1] == ["timeout"] and outcomes[-1] in ("timeout", "deadline")
    assert up["c"].calls <= 1
