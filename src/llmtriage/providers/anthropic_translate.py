"""OpenAI chat completions ⇄ Anthropic Messages, as pure functions (no I/O).

Request: system/developer turns become `system`; `max_completion_tokens` or
`max_tokens` (else the deployment's `max_output_tokens`) becomes `max_tokens`;
`stop` → `stop_sequences`; `temperature` is clamped to Anthropic's [0, 1] and,
as recent Claude models refuse both at once, `top_p` is sent only without it;
`user` (→ metadata.user_id), function tools and `tool_choice` map across;
image_url parts become image blocks (data: URLs as base64). Fields Anthropic has
no equivalent for (`response_format`, `n`, `seed`, logprobs, …) are dropped.

Response: text blocks join into `content`, tool_use blocks become `tool_calls`,
`stop_reason` maps onto `finish_reason`, and usage counts cache reads/writes as
prompt tokens (they are input the deployment was billed for).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmtriage.errors import InputError
from llmtriage.providers.types import ChatMessage, ChatRequest, ChatResponse, JSONObject, Usage
from llmtriage.text import content_text

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class AnthropicUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None

    def to_openai(self) -> Usage:
        prompt = (
            self.input_tokens
            + (self.cache_creation_input_tokens or 0)
            + (self.cache_read_input_tokens or 0)
        )
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=self.output_tokens,
            total_tokens=prompt + self.output_tokens,
        )


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    model: str
    content: list[JSONObject] = Field(default_factory=list)
    stop_reason: str | None = None
    usage: AnthropicUsage = Field(default_factory=AnthropicUsage)


# ---- request -------------------------------------------------------------------------


def to_messages_body(
    request: ChatRequest, *, model: str, max_output_tokens: int, stream: bool, sampling: bool = True
) -> JSONObject:
    """The /v1/messages body. `sampling=False` drops temperature and top_p (API versions
    after 2023-06-01 reject them)."""
    system: list[str] = []
    messages: list[JSONObject] = []
    for index, message in enumerate(request.messages):
        convert = _ROLES.get(message.role)
        if convert is None:
            raise InputError(
                f"role '{message.role}' cannot be sent to Anthropic", param=f"messages.{index}.role"
            )
        convert(message, system, messages)
    body: JSONObject = {
        "model": model,
        "max_tokens": request.max_completion_tokens or request.max_tokens or max_output_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.stop is not None:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if sampling and request.temperature is not None:
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    elif sampling and request.top_p is not None:
        body["top_p"] = request.top_p
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.tools:
        body["tools"] = [_function_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if stream:
        body["stream"] = True
    return body


def _system(message: ChatMessage, system: list[str], _: list[JSONObject]) -> None:
    system.append(content_text(message.content))


def _user(message: ChatMessage, _: list[str], out: list[JSONObject]) -> None:
    content = message.content
    if isinstance(content, list):
        out.append({"role": "user", "content": [_part(part) for part in content]})
    else:
        out.append({"role": "user", "content": content or ""})


def _assistant(message: ChatMessage, _: list[str], out: list[JSONObject]) -> None:
    blocks: list[JSONObject] = []
    text = content_text(message.content)
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.tool_calls or []:
        function = call.get("function", {})
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError as exc:
            raise InputError(
                "tool call arguments are not valid JSON", param="messages.tool_calls"
            ) from exc
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments,
            }
        )
    out.append({"role": "assistant", "content": blocks or ""})


def _tool_result(message: ChatMessage, _: list[str], out: list[JSONObject]) -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": content_text(message.content),
    }
    out.append({"role": "user", "content": [result]})


_ROLES: dict[str, Callable[[ChatMessage, list[str], list[JSONObject]], None]] = {
    "system": _system,
    "developer": _system,
    "user": _user,
    "assistant": _assistant,
    "tool": _tool_result,
}


def _part(part: JSONObject) -> JSONObject:
    kind = part.get("type")
    if kind in ("text", "input_text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = str(image.get("url", "") if isinstance(image, dict) else image or "")
        return {"type": "image", "source": _image_source(url)}
    raise InputError(
        f"content part type '{kind}' cannot be sent to Anthropic", param="messages.content"
    )


def _image_source(url: str) -> JSONObject:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _function_tool(tool: JSONObject) -> JSONObject:
    function = tool.get("function", {})
    converted: JSONObject = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: str | JSONObject) -> JSONObject:
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice.get("function", {}).get("name")}
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
        choice, {"type": "auto"}
    )


# ---- response ------------------------------------------------------------------------


def to_chat_response(
    message: AnthropicMessage, response_type: type[ChatResponse] = ChatResponse
) -> ChatResponse:
    text = "".join(
        str(block.get("text", "")) for block in message.content if block.get("type") == "text"
    )
    tool_calls = [_tool_call(block) for block in message.content if block.get("type") == "tool_use"]
    reply: JSONObject = {"role": "assistant", "content": text or None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    choice = {
        "index": 0,
        "message": reply,
        "finish_reason": finish_reason(message.stop_reason),
        "logprobs": None,
    }
    return response_type(
        id=message.id,
        object="chat.completion",
        created=int(time.time()),
        model=message.model,
        choices=[choice],
        usage=message.usage.to_openai(),
    )


def _tool_call(block: JSONObject) -> JSONObject:
    arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": arguments},
    }


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


def json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
