"""POST /v1/responses, called by the official `openai` SDK over real HTTP, translated to
the OpenAI-format cheap tier (`mini`) and the Anthropic strong tier (`sonnet`)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.ingress.fakes import ToolAnthropic, ToolOpenAI
from tests.proxy.harness import CLIENT_KEY

Fakes = tuple[ToolOpenAI, ToolAnthropic]
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
REPLIES = {"mini": "Hello from gpt-mini fake", "sonnet": "Bonjour from claude-sonnet fake"}


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_whole_response(gpt: openai.OpenAI, fakes: Fakes, model: str) -> None:
    raw = gpt.responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="Say hello.", max_output_tokens=64
    )
    response = raw.parse()
    assert raw.headers["x-llmtriage-deployment"] == model
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text == REPLIES[model]
    assert response.usage is not None and response.usage.output_tokens == 4
    if model == "mini":
        sent = fakes[0].received[-1].body
        assert sent["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ]
        assert sent["max_tokens"] == 64
    else:
        sent = fakes[1].received[-1].body
        assert sent["system"] == "Be brief." and sent["max_tokens"] == 64


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_streamed_response_events(gpt: openai.OpenAI, fakes: Fakes, model: str) -> None:
    stream = gpt.responses.create(
        model=model, input=[{"role": "user", "content": "Hi"}], stream=True
    )
    events = list(stream)
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.output_item.added" in types and "response.content_part.added" in types
    assert "response.output_text.delta" in types and "response.output_text.done" in types
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLIES[model]
    with gpt.responses.stream(model=model, input="Hi") as helper:
        final = helper.get_final_response()
    assert final.output_text == REPLIES[model] and final.status == "completed"


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_function_call_round_trip(gpt: openai.OpenAI, fakes: Fakes, model: str) -> None:
    first = gpt.responses.create(
        model=model, input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    follow_up: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21°C"},
    ]  # fmt: skip
    second = gpt.responses.create(model=model, input=follow_up, tools=[WEATHER])
    assert second.output_text == REPLIES[model]
    if model == "mini":
        sent = fakes[0].received[-1].body["messages"]
        assert sent[1]["tool_calls"][0]["id"] == call.call_id
        assert sent[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "Sunny, 21°C"}
    else:
        sent = fakes[1].received[-1].body["messages"]
        assert sent[1]["content"][0]["type"] == "tool_use"
        assert sent[2]["content"][0] == {
            "type": "tool_result",
            "tool_use_id": call.call_id,
            "content": "Sunny, 21°C",
        }


@pytest.mark.parametrize("model", ["mini", "sonnet"])
def test_streamed_function_call_arguments(gpt: openai.OpenAI, fakes: Fakes, model: str) -> None:
    stream = gpt.responses.create(
        model=model, input="Weather?", tools=[WEATHER], tool_choice="required", stream=True
    )
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(deltas)) == {"city": "Paris"}
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Paris"}
    final = events[-1]
    assert final.type == "response.completed"
    assert [item.type for item in final.response.output][-1] == "function_call"


def test_previous_response_id_continues_the_conversation(gpt: openai.OpenAI, fakes: Fakes) -> None:
    first = gpt.responses.create(model="mini", instructions="Be brief.", input="My name is Ada.")
    second = gpt.responses.create(
        model="mini", previous_response_id=first.id, input="What is my name?"
    )
    assert second.previous_response_id == first.id
    assert fakes[0].received[-1].body["messages"] == [
        {"role": "user", "content": "My name is Ada."},  # instructions are not carried over
        {"role": "assistant", "content": "Hello from gpt-mini fake"},
        {"role": "user", "content": "What is my name?"},
    ]
    stream = gpt.responses.create(
        model="mini", previous_response_id=second.id, input="And again?", stream=True
    )
    streamed = [e for e in stream][-1]
    third = gpt.responses.create(
        model="mini", previous_response_id=streamed.response.id, input="Once more."
    )
    assert third.output_text and len(fakes[0].received[-1].body["messages"]) == 7


def test_unknown_previous_response_id_is_a_400(gpt: openai.OpenAI, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.responses.create(model="mini", previous_response_id="resp_nope", input="Hi")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    assert fakes[0].received == []


def test_another_clients_response_is_not_found(
    gpt: openai.OpenAI, service_url: str, fakes: Fakes
) -> None:
    first = gpt.responses.create(model="mini", input="Secret plan")
    other = openai.OpenAI(base_url=service_url + "/v1", api_key="second-key", max_retries=0)
    with other, pytest.raises(openai.BadRequestError) as caught:
        other.responses.create(model="mini", previous_response_id=first.id, input="Hi")
    assert caught.value.code == "previous_response_not_found"


def test_store_false_keeps_nothing(gpt: openai.OpenAI, fakes: Fakes) -> None:
    first = gpt.responses.create(model="mini", input="Hi", store=False)
    with pytest.raises(openai.BadRequestError):
        gpt.responses.create(model="mini", previous_response_id=first.id, input="Hi")


def test_without_a_store_previous_response_id_is_a_clear_400(bare_url: str, fakes: Fakes) -> None:
    with openai.OpenAI(base_url=bare_url + "/v1", api_key=CLIENT_KEY, max_retries=0) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.responses.create(model="mini", previous_response_id="resp_x", input="Hi")
        assert caught.value.code == "previous_response_unsupported"
        assert sdk.responses.create(model="mini", input="Hi").output_text  # plain calls work


def test_wrong_key_is_an_openai_authentication_error(service_url: str, fakes: Fakes) -> None:
    with openai.OpenAI(base_url=service_url + "/v1", api_key="wrong", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.responses.create(model="mini", input="Hi")
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            list(sdk.responses.create(model="mini", input="Hi", stream=True))
    assert fakes[0].received == []


def test_built_in_tools_are_refused(gpt: openai.OpenAI, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.responses.create(model="mini", input="Hi", tools=[{"type": "web_search"}])
    assert caught.value.param == "tools.0.type"


JSON = "application/json"


def _json(**fields: Any) -> bytes:
    return json.dumps({"model": "mini"} | fields).encode()


MALFORMED = {
    "truncated": (b'{"model": "mini", "input": ', JSON),
    "array": (b"[1]", JSON),
    "no-input": (_json(), JSON),
    "input-type": (_json(input=7), JSON),
    "item-type": (_json(input=[{"type": "nope"}]), JSON),
    "bad-role": (_json(input=[{"role": "bot", "content": "x"}]), JSON),
    "max-output": (_json(input="x", max_output_tokens=0), JSON),
    "not-utf8": (b"\xff\xfe", JSON),
    "not-json": (b"input=x", "text/plain"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bodies_are_openai_errors(service_url: str, fakes: Fakes, case: str) -> None:
    body, content_type = MALFORMED[case]
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": content_type}
    response = httpx.post(service_url + "/v1/responses", content=body, headers=headers)
    assert response.status_code in (400, 415), response.text
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) >= {"message", "type", "param", "code"}
    assert payload["error"]["type"] == "invalid_request_error"
    assert fakes[0].received == [] and fakes[1].received == []


def test_upstream_failure_mid_stream_is_an_error_event(gpt: openai.OpenAI, fakes: Fakes) -> None:
    fakes[1].stream_error = {"type": "overloaded_error", "message": "Overloaded"}
    events = list(gpt.responses.create(model="sonnet", input="Hi", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
