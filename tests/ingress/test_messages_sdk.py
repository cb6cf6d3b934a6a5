"""POST /v1/messages and /v1/messages/count_tokens, called by the official `anthropic` SDK
over real HTTP: to the OpenAI-format cheap tier (`mini`, translated both ways) and to
the Anthropic strong tier (`sonnet`, the body and headers passed through unchanged)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.ingress.fakes import COUNT, ToolAnthropic, ToolOpenAI
from tests.proxy.harness import CLIENT_KEY

Fakes = tuple[ToolOpenAI, ToolAnthropic]
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
HI: list[Any] = [{"role": "user", "content": "Say hello."}]


def assert_anthropic_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


# ---- non-streaming --------------------------------------------------------------------


def test_whole_answer_from_an_openai_deployment_is_translated(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    raw = claude.messages.with_raw_response.create(
        model="mini",
        max_tokens=64,
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        messages=HI,
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
    )
    message = raw.parse()
    assert raw.headers["x-llmtriage-deployment"] == "mini"
    assert raw.headers["x-llmtriage-tier"] == "cheap"
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from gpt-mini fake"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 4
    sent = fakes[0].received[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief.\n\nBe kind."}
    assert sent["stop"] == ["END"] and sent["user"] == "user-7" and sent["max_tokens"] == 64


def test_whole_answer_from_an_anthropic_deployment_passes_through(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    system = [
        {"type": "text", "text": "Long cached prompt", "cache_control": {"type": "ephemeral"}}
    ]
    raw = claude.messages.with_raw_response.create(
        model="sonnet",
        max_tokens=64,
        system=system,
        messages=HI,
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    message = raw.parse()
    assert raw.headers["x-llmtriage-deployment"] == "sonnet"
    # the upstream's own answer: thinking block, signature and cache usage kept
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature == "sig-fake"
    assert message.usage.cache_read_input_tokens == 12
    received = fakes[1].received[-1]
    assert received.body == {
        "model": "claude-sonnet",  # the deployment's model, all else as the client sent it
        "max_tokens": 64,
        "system": system,
        "messages": HI,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert received.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    # the client's API version, not the one the provider pins for translated calls
    assert received.headers["anthropic-version"] == claude.default_headers["anthropic-version"]
    assert received.headers["anthropic-version"] != "2023-06-01"
    assert received.headers["x-api-key"] == "sk-ant-test-key"  # the deployment's, not the client's


def test_images_and_documents_reach_an_openai_deployment(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
            "title": "spec.pdf",
        },
        {"type": "text", "text": "Describe these."},
    ]
    claude.messages.create(
        model="mini", max_tokens=64, messages=[{"role": "user", "content": content}]
    )
    parts = fakes[0].received[-1].body["messages"][0]["content"]
    assert parts == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "spec.pdf"},
        },
        {"type": "text", "text": "Describe these."},
    ]


# ---- streaming ------------------------------------------------------------------------


def _event_types(claude: anthropic.Anthropic, **request: Any) -> tuple[list[str], Any]:
    with claude.messages.create(stream=True, **request) as stream:
        types = [event.type for event in stream]
    with claude.messages.stream(**request) as helper:
        final = helper.get_final_message()
    return types, final


def test_stream_from_an_openai_deployment_has_the_real_event_sequence(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    with claude.messages.with_streaming_response.create(
        model="mini", max_tokens=64, messages=HI, stream=True
    ) as raw:
        text = raw.read().decode()
    names = [
        line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")
    ]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    types, final = _event_types(claude, model="mini", max_tokens=64, messages=HI)
    assert types[0] == "message_start" and types[1] == "content_block_start"
    assert types[-4:] == [
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert final.content[0].text == "Hello from gpt-mini fake"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4 and final.usage.input_tokens > 0


def test_stream_from_an_anthropic_deployment_passes_its_events_through(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    request: dict[str, Any] = {
        "model": "sonnet",
        "max_tokens": 64,
        "messages": HI,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    with claude.messages.with_streaming_response.create(stream=True, **request) as raw:
        assert raw.headers["x-llmtriage-deployment"] == "sonnet"
        text = raw.read().decode()
    names = [
        line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")
    ]
    assert names == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "ping", "content_block_start", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert '"type":"signature_delta"' in text.replace(" ", "")
    assert ": x-llmtriage-cost=" in text
    with claude.messages.stream(**request) as helper:
        final = helper.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert fakes[1].received[-1].body["stream"] is True


# ---- tools ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_tool_use_round_trip(claude: anthropic.Anthropic, fakes: Fakes, model: str) -> None:
    ask: Any = [{"role": "user", "content": "Weather in Paris?"}]
    first = claude.messages.create(
        model=model, max_tokens=64, messages=ask, tools=[WEATHER],
        tool_choice={"type": "any"},
    )  # fmt: skip
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    follow_up: Any = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21°C"}],
        },
    ]
    second = claude.messages.create(
        model=model,
        max_tokens=64,
        messages=follow_up,
        tools=[WEATHER],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    if model == "mini":  # translated: the call and its result as OpenAI messages
        sent = fakes[0].received[-1].body["messages"]
        assert sent[1]["tool_calls"][0]["function"] == {
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        }
        assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21°C"}
        assert (
            fakes[0].received[-1].body["tools"][0]["function"]["parameters"]
            == WEATHER["input_schema"]
        )
    else:  # passed through as sent
        assert fakes[1].received[-1].body["messages"] == follow_up


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_streamed_tool_use_sends_input_json_deltas(
    claude: anthropic.Anthropic, fakes: Fakes, model: str
) -> None:
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    with claude.messages.create(stream=True, **request) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
    assert "input_json_delta" in deltas
    with claude.messages.stream(**request) as helper:
        final = helper.get_final_message()
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.input == {"city": "Paris"} and final.stop_reason == "tool_use"


# ---- count_tokens ---------------------------------------------------------------------


def test_count_tokens_is_exact_on_an_anthropic_deployment(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    raw = claude.messages.with_raw_response.count_tokens(model="sonnet", messages=HI)
    assert raw.parse().input_tokens == COUNT
    assert raw.headers["x-llmtriage-token-count"] == "exact"
    assert fakes[1].received[-1].body == {"model": "claude-sonnet", "messages": HI}


def test_count_tokens_is_an_estimate_elsewhere(claude: anthropic.Anthropic, fakes: Fakes) -> None:
    raw = claude.messages.with_raw_response.count_tokens(model="mini", messages=HI)
    assert raw.headers["x-llmtriage-token-count"] == "estimate"
    assert 0 < raw.parse().input_tokens < 50
    assert fakes[1].received == []


# ---- auth and errors ------------------------------------------------------------------


def test_bearer_token_is_accepted_too(service_url: str, fakes: Fakes) -> None:
    with anthropic.Anthropic(base_url=service_url, auth_token=CLIENT_KEY, max_retries=0) as sdk:
        assert sdk.messages.create(model="mini", max_tokens=8, messages=HI).content


def test_wrong_key_is_an_anthropic_authentication_error(service_url: str, fakes: Fakes) -> None:
    sdk = anthropic.Anthropic(base_url=service_url, api_key="wrong", max_retries=0)
    with sdk, pytest.raises(anthropic.AuthenticationError) as caught:
        sdk.messages.create(model="mini", max_tokens=8, messages=HI)
    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "authentication_error"
    sdk = anthropic.Anthropic(base_url=service_url, api_key="wrong", max_retries=0)
    with (
        sdk,
        pytest.raises(anthropic.AuthenticationError),
        sdk.messages.stream(model="mini", max_tokens=8, messages=HI) as stream,
    ):
        stream.get_final_message()
    assert fakes[0].received == []


def _body(**fields: Any) -> bytes:
    return json.dumps({"model": "mini", "max_tokens": 8, "messages": HI} | fields).encode()


MALFORMED = {  # id: (body, content type, malformed for count_tokens too)
    "truncated": (b'{"model": "mini", "max_tokens": 8, "messages": [', "application/json", True),
    "array": (b"[1, 2]", "application/json", True),
    "no-max-tokens": (json.dumps({"model": "mini", "messages": HI}).encode(), "application/json",
                      False),
    "no-messages": (_body(messages=[]), "application/json", True),
    "max-tokens-type": (_body(max_tokens="x"), "application/json", False),
    "bad-role": (_body(messages=[{"role": "bot", "content": "x"}]), "application/json", True),
    "content-type": (_body(messages=[{"role": "user", "content": 7}]), "application/json", True),
    "max-tokens-huge": (_body(max_tokens=10**9), "application/json", False),
    "not-utf8": (b"\xff\xfe", "application/json", True),
    "not-json": (b"model=mini", "text/plain", True),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bodies_are_anthropic_invalid_request_errors(
    service_url: str, fakes: Fakes, case: str
) -> None:
    body, content_type, for_count = MALFORMED[case]
    headers = {"x-api-key": CLIENT_KEY, "content-type": content_type}
    paths = ["/v1/messages"] + (["/v1/messages/count_tokens"] if for_count else [])
    for path in paths:
        response = httpx.post(service_url + path, content=body, headers=headers)
        assert_anthropic_error(response, 400, "invalid_request_error")
    assert fakes[0].received == [] and fakes[1].received == []


def test_upstream_failure_is_an_anthropic_error(claude: anthropic.Anthropic, fakes: Fakes) -> None:
    fakes[0].fail_next(500, {"error": {"message": "boom", "type": "server_error"}})
    with pytest.raises(anthropic.InternalServerError) as caught:
        claude.messages.create(model="mini", max_tokens=8, messages=HI)
    assert caught.value.body["error"]["type"] == "api_error"
    fakes[1].fail_next(
        400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    )
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert bad.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_an_anthropic_not_found_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="no-such-model", max_tokens=8, messages=HI)
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_mid_stream_failure_is_an_anthropic_error_event(
    claude: anthropic.Anthropic, fakes: Fakes
) -> None:
    fakes[1].stream_error = {"type": "overloaded_error", "message": "Overloaded"}
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(model="sonnet", max_tokens=64, messages=HI) as stream,
    ):
        stream.get_final_message()
