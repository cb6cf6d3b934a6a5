"""Pure OpenAI ⇄ Anthropic translation cases the fake server does not exercise."""

from __future__ import annotations

from typing import Any

import pytest

from llmtriage.errors import InputError
from llmtriage.providers.anthropic_stream import StreamTranslator
from llmtriage.providers.anthropic_translate import (
    AnthropicMessage,
    to_chat_response,
    to_messages_body,
)
from llmtriage.providers.types import ChatRequest


def body(messages: list[dict[str, object]], **extra: object) -> dict[str, Any]:
    request = ChatRequest.model_validate({"model": "auto", "messages": messages, **extra})
    return to_messages_body(request, model="claude-x", max_output_tokens=100, stream=False)


def test_images_tool_calls_and_tool_results() -> None:
    messages: list[dict[str, object]] = [
        {"role": "developer", "content": "Rules."},
        {"role": "system", "content": [{"type": "text", "text": "More rules."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"x": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    out = body(
        messages,
        max_completion_tokens=42,
        tool_choice={"type": "function", "function": {"name": "look"}},
    )
    assert out["system"] == "Rules.\n\nMore rules."
    assert out["max_tokens"] == 42
    assert out["tool_choice"] == {"type": "tool", "name": "look"}
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "look", "input": {"x": 1}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"}],
        },
    ]


def test_top_p_only_without_temperature_and_never_after_2023_06_01() -> None:
    assert body([{"role": "user", "content": "hi"}], top_p=0.5)["top_p"] == 0.5
    request = ChatRequest.model_validate(
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "top_p": 0.5,
        }
    )
    assert "top_p" not in to_messages_body(request, model="m", max_output_tokens=1, stream=False)
    dropped = to_messages_body(request, model="m", max_output_tokens=1, stream=True, sampling=False)
    assert "temperature" not in dropped and "top_p" not in dropped and dropped["stream"] is True


@pytest.mark.parametrize(
    "message",
    [
        {"role": "function", "content": "x"},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
        },
    ],
)
def test_untranslatable_input_is_a_client_error(message: dict[str, object]) -> None:
    with pytest.raises(InputError):
        body([message])


def test_response_mapping_of_stop_reasons_and_cache_usage() -> None:
    message = AnthropicMessage.model_validate(
        {
            "id": "msg_1",
            "model": "claude-x",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "refusal",
            "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 90},
        }
    )
    response = to_chat_response(message)
    assert response.choices[0]["finish_reason"] == "content_filter"
    assert response.usage is not None and response.usage.prompt_tokens == 100


def test_stream_ignores_pings_and_unknown_events() -> None:
    translator = StreamTranslator(deployment="d", model="m")
    assert translator.feed({"type": "ping"}) == []
    assert translator.feed({"type": "brand_new_event"}) == []
    start = translator.feed(
        {"type": "message_start", "message": {"id": "msg_9", "model": "claude-y"}}
    )
    assert start[0].model == "claude-y" and start[0].id == "msg_9"
