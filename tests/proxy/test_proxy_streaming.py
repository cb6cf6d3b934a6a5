"""Streaming through the proxy: chunk by chunk, usage on request, cost at the end."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import httpx
import openai
import pytest

from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI, anthropic_usage, openai_usage
from tests.proxy.harness import CLIENT_KEY
from tests.proxy.prompts import MATHS, SHORT, user

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def test_stream_with_usage_via_sdk(
    client: openai.OpenAI, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = openai_fake
    chunks = list(
        client.chat.completions.create(
            model="auto", messages=user(SHORT), stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from gpt-mini fake"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    prompt, out = openai_usage(fake.received[-1].body, text)
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (prompt, out)


def test_usage_chunk_only_when_asked_but_always_requested_upstream(
    client: openai.OpenAI, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = openai_fake
    chunks = list(client.chat.completions.create(model="auto", messages=user(SHORT), stream=True))
    assert fake.received[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def sse_lines(proxy_url: str, body: dict[str, object]) -> tuple[httpx.Headers, list[str]]:
    with httpx.stream(
        "POST", proxy_url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10
    ) as response:
        assert response.status_code == 200
        return response.headers, [line for line in response.iter_lines() if line]


def test_raw_stream_ends_with_cost_comment_then_done(
    proxy_url: str, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = openai_fake
    headers, lines = sse_lines(
        proxy_url, {"model": "auto", "messages": user(SHORT), "stream": True}
    )
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-llmtriage-tier"] == "cheap" and "x-llmtriage-cost" not in headers
    assert lines[-1] == "data: [DONE]"
    assert lines[-2].startswith(": x-llmtriage-cost=")
    prompt, out = openai_usage(fake.received[-1].body, "Hello from gpt-mini fake")
    cost = Decimal(lines[-2].removeprefix(": x-llmtriage-cost="))
    assert cost == (prompt * Decimal("0.15") + out * Decimal("0.60")) / 1_000_000


def test_anthropic_stream_translated_for_the_sdk(
    client: openai.OpenAI, anthropic_fake: tuple[FakeAnthropic, str]
) -> None:
    fake, _ = anthropic_fake
    with client.chat.completions.with_streaming_response.create(
        model="auto", messages=user(MATHS), stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["x-llmtriage-tier"] == "strong"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour from claude-sonnet fake"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.model == "claude-sonnet" for c in chunks)
    prompt, out = anthropic_usage(fake.received[-1].body, text)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == prompt
    assert chunks[-1].usage.completion_tokens == out


def test_anthropic_stream_cost(proxy_url: str, anthropic_fake: tuple[FakeAnthropic, str]) -> None:
    fake, _ = anthropic_fake
    _, lines = sse_lines(proxy_url, {"model": "sonnet", "messages": user(SHORT), "stream": True})
    prompt, out = anthropic_usage(fake.received[-1].body, "Bonjour from claude-sonnet fake")
    assert (
        lines[-2] == f": x-llmtriage-cost={(prompt * Decimal(3) + out * Decimal(15)) / 1_000_000}"
    )


def test_chunks_are_forwarded_as_they_arrive(
    proxy_url: str, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    """The upstream holds after its first token; the client must see it meanwhile (the
    role chunk before it is held back only until that token)."""
    fake, _ = openai_fake
    gate = threading.Event()
    fake.hold_after_first_chunk = gate
    body = {"model": "auto", "messages": user(SHORT), "stream": True}
    timeout = httpx.Timeout(10, read=2)  # far below the fake's 5 s hold: buffering would time out
    with httpx.stream(
        "POST", proxy_url + "/v1/chat/completions", json=body, headers=AUTH, timeout=timeout
    ) as r:
        lines = r.iter_lines()
        first = next(line for line in lines if line)
        assert '"role": "assistant"' in first or '"role":"assistant"' in first
        token = json.loads(next(line for line in lines if line).removeprefix("data: "))
        assert token["choices"][0]["delta"]["content"] == "Hello"
        assert not gate.is_set()
        gate.set()
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]"


def test_error_mid_stream_reaches_the_sdk(
    client: openai.OpenAI, anthropic_fake: tuple[FakeAnthropic, str]
) -> None:
    fake, _ = anthropic_fake
    fake.stream_error = {"type": "overloaded_error", "message": "Overloaded"}
    stream = client.chat.completions.create(model="sonnet", messages=user(SHORT), stream=True)
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(stream)
