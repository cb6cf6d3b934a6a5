"""Anthropic provider against a fake Messages API on loopback: translation both ways."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anthropic
import httpx
import pytest

from llmtriage.providers.anthropic import AnthropicProvider
from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import ProviderOverloaded, ProviderRateLimited, ProviderStreamError
from llmtriage.providers.types import ChatChunk, ChatRequest
from tests.providers.wire_fakes import FakeAnthropic, anthropic_usage

FAST = Timeouts(connect=2, read=5, total=10)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def provider(url: str, client: httpx.AsyncClient) -> AnthropicProvider:
    endpoint = Endpoint(
        deployment="sonnet",
        model="claude-x",
        base_url=url,
        api_key="sk-ant-test-key",
        max_output_tokens=321,
    )
    return AnthropicProvider(endpoint, client=client)


def request(**extra: object) -> ChatRequest:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    return ChatRequest.model_validate({"model": "auto", "messages": messages, **extra})


async def test_complete_translates_request_and_response(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    response = await provider(url, client).complete(
        request(stop="END", temperature=1.6, top_p=0.9, user="u-1", seed=3), timeout=FAST
    )
    sent = fake.received[-1]
    assert sent.headers["x-api-key"] == "sk-ant-test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-x",
        "max_tokens": 321,
        "messages": [{"role": "user", "content": "Say hello"}],
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "temperature": 1.0,
        "metadata": {"user_id": "u-1"},
    }
    reply = "Bonjour from claude-x fake"
    assert response.object == "chat.completion" and response.model == "claude-x"
    assert response.choices[0]["message"] == {"role": "assistant", "content": reply}
    assert response.choices[0]["finish_reason"] == "stop"
    prompt, completion = anthropic_usage(sent.body, reply)
    assert response.usage is not None
    assert response.usage.model_dump() == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def test_max_tokens_maps_to_length(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    response = await provider(url, client).complete(request(max_tokens=3), timeout=FAST)
    assert fake.received[-1].body["max_tokens"] == 3
    assert response.choices[0]["finish_reason"] == "length"


async def test_tools_round_trip(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    response = await provider(url, client).complete(
        request(tools=TOOLS, tool_choice="required"), timeout=FAST
    )
    sent = fake.received[-1].body
    assert sent["tools"] == [
        {
            "name": "weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}
    choice = response.choices[0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_fake1" and call["function"]["name"] == "weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


async def test_stream_translates_events_to_chunks(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    chunks: list[ChatChunk] = [
        c async for c in provider(url, client).stream(request(stream=True), timeout=FAST)
    ]
    sent = fake.received[-1].body
    assert sent["stream"] is True
    assert chunks[0].choices[0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c.object == "chat.completion.chunk" and c.id == "msg_fake" for c in chunks)
    text = "".join(c.choices[0]["delta"].get("content", "") for c in chunks if c.choices)
    reply = "Bonjour from claude-x fake"
    assert text == reply
    assert chunks[-2].choices[0]["finish_reason"] == "stop"
    prompt, completion = anthropic_usage(sent, reply)
    assert chunks[-1].usage_only and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        prompt,
        completion,
    )


async def test_stream_tool_calls(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    _, url = anthropic_fake
    stream = provider(url, client).stream(
        request(stream=True, tools=TOOLS, tool_choice="required"), timeout=FAST
    )
    chunks = [c async for c in stream]
    calls = [
        call for c in chunks if c.choices for call in c.choices[0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "toolu_fake1" and calls[0]["function"]["name"] == "weather"
    assert all(call["index"] == 0 for call in calls)
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {"city": "Paris"}
    assert [c.choices[0]["finish_reason"] for c in chunks if c.choices][-1] == "tool_calls"


async def test_overloaded_and_rate_limited(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.fail_next(529, overloaded)
    with pytest.raises(ProviderOverloaded) as info:
        await provider(url, client).complete(request(), timeout=FAST)
    assert info.value.provider_code == "overloaded_error" and info.value.retryable
    fake.fail_next(
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
        {"retry-after": "7"},
    )
    with pytest.raises(ProviderRateLimited) as limited:
        [c async for c in provider(url, client).stream(request(stream=True), timeout=FAST)]
    assert limited.value.retry_after == 7.0


async def test_error_event_mid_stream(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    fake.stream_error = {"type": "overloaded_error", "message": "Overloaded"}
    seen: list[ChatChunk] = []
    with pytest.raises(ProviderStreamError) as info:
        async for chunk in provider(url, client).stream(request(stream=True), timeout=FAST):
            seen.append(chunk)
    assert info.value.error_type == "overloaded_error"
    assert seen and seen[0].choices[0]["delta"]["role"] == "assistant"


def test_fake_speaks_the_format_the_official_sdk_expects(
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    """Grounds the fake: the anthropic SDK parses its answers and its stream."""
    _, url = anthropic_fake
    with anthropic.Anthropic(base_url=url, api_key="sk-ant-test-key", max_retries=0) as sdk:
        message = sdk.messages.create(
            model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].type == "text" and message.stop_reason == "end_turn"
        with sdk.messages.stream(
            model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
    assert text == "Bonjour from claude-x fake"
    assert final.usage.output_tokens == 4


async def test_newer_api_version_drops_sampling_parameters(
    anthropic_fake: tuple[FakeAnthropic, str], client: httpx.AsyncClient
) -> None:
    fake, url = anthropic_fake
    endpoint = Endpoint(
        deployment="sonnet",
        model="claude-x",
        base_url=url,
        api_key="sk-ant-test-key",
        headers={"Anthropic-Version": "2026-10-21", "x-team": "search"},
    )
    await AnthropicProvider(endpoint, client=client).complete(
        request(temperature=0.3), timeout=FAST
    )
    sent = fake.received[-1]
    assert sent.headers["anthropic-version"] == "2026-10-21" and sent.headers["x-team"] == "search"
    assert "temperature" not in sent.body
    assert sent.headers["user-agent"].startswith("llmtriage/")
