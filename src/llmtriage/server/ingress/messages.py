"""Anthropic Messages ⇄ the internal chat types, as pure functions (no I/O).

Request (`to_chat_request`): the body is validated (`MessagesBody`) and translated into a
`PassthroughRequest`: what the router, the cascade and OpenAI-format deployments read,
carrying the original body for Anthropic deployments (providers/anthropic_passthrough.py).

    system (string or text blocks)   → a system message (blocks joined by blank lines)
    user text / image / document     → content parts: text, image_url (base64 as a data:
                                       URL), file (base64 PDF as file_data); a plain-text
                                       document becomes text, a URL document a text line
    user tool_result blocks          → tool messages (before the turn's other content)
    assistant text / tool_use        → content and tool_calls; thinking blocks are dropped
    tools (custom)                   → function tools; server tools (no input_schema),
                                       which only Anthropic runs, are left out
    tool_choice auto/any/tool/none   → auto/required/{function}/none
    stop_sequences → stop, metadata.user_id → user, max_tokens, temperature, top_p
                                       (top_k has no OpenAI equivalent)

Response (`to_message`): content → a text block, tool_calls → tool_use blocks (arguments
parsed), finish_reason → stop_reason, usage → input/output tokens.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmtriage.providers.anthropic_passthrough import PassthroughRequest
from llmtriage.providers.types import ChatResponse, JSONObject, Usage

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MessageParam(_Open):
    role: Literal["user", "assistant"]
    content: str | list[JSONObject]


class CountTokensBody(_Open):
    model: str = Field(min_length=1)
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[JSONObject] | None = None
    tools: list[JSONObject] | None = None
    tool_choice: JSONObject | None = None


class MessagesBody(CountTokensBody):
    max_tokens: int = Field(ge=1)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    metadata: JSONObject | None = None


def to_chat_request(
    body: CountTokensBody, raw: JSONObject, headers: Mapping[str, str]
) -> PassthroughRequest:
    """The chat translation of a validated body; `raw` (the JSON as sent) and the client's
    anthropic-version/anthropic-beta `headers` ride along for Anthropic deployments."""
    messages: list[JSONObject] = []
    system = _system_text(body.system)
    if system:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(body.messages):
        if message.role == "user":
            messages.extend(_user(message.content, index))
        else:
            messages.append(_assistant(message.content))
    chat: JSONObject = {"model": body.model, "messages": messages}
    if isinstance(body, MessagesBody):
        chat["max_tokens"] = body.max_tokens
        if body.stream:
            chat["stream"] = True
        if body.stop_sequences:
            chat["stop"] = body.stop_sequences
        if body.temperature is not None:
            chat["temperature"] = body.temperature
        if body.top_p is not None:
            chat["top_p"] = body.top_p
        user = (body.metadata or {}).get("user_id")
        if isinstance(user, str) and user:
            chat["user"] = user
    tools = [_function_tool(tool) for tool in body.tools or [] if "input_schema" in tool]
    if tools:
        chat["tools"] = tools
        if body.tool_choice is not None:
            chat.update(_tool_choice(body.tool_choice))
    return PassthroughRequest.model_validate(chat).with_original(raw, headers)


def _system_text(system: str | list[JSONObject] | None) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    return "\n\n".join(str(b.get("text", "")) for b in system if b.get("type") == "text")


def _user(content: str | list[JSONObject], index: int) -> list[JSONObject]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[JSONObject] = []
    parts: list[JSONObject] = []
    for block in content:
        if block.get("type") == "tool_result":
            out.append(_tool_result(block))
        else:
            part = _part(block)
            if part is not None:
                parts.append(part)
    if parts:  # OpenAI wants tool messages straight after the assistant's calls
        out.append({"role": "user", "content": parts})
    if not out:
        out.append({"role": "user", "content": ""})
    return out


def _tool_result(block: JSONObject) -> JSONObject:
    content = block.get("content")
    if isinstance(content, list):
        texts = [str(b.get("text", "")) for b in content if b.get("type") == "text"]
        images = sum(1 for b in content if b.get("type") == "image")
        content = "\n".join(texts + ["[image]"] * images)
    text = str(content or "")
    if block.get("is_error"):
        text = f"[tool error] {text}"
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}


def _part(block: JSONObject) -> JSONObject | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    source = block.get("source")
    if not isinstance(source, dict):
        source = {}
    if kind == "image":
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data', '')}"
        else:
            url = str(source.get("url", ""))
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document":
        if source.get("type") == "base64":
            data = f"data:{source.get('media_type')};base64,{source.get('data', '')}"
            name = str(block.get("title") or "document.pdf")
            return {"type": "file", "file": {"file_data": data, "filename": name}}
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data", ""))}
        return {"type": "text", "text": f"[document: {source.get('url', '')}]"}
    return None  # thinking, search results, …: nothing an OpenAI model reads


def _assistant(content: str | list[JSONObject]) -> JSONObject:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    text = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
    calls = [
        {
            "id": str(b.get("id", "")),
            "type": "function",
            "function": {
                "name": str(b.get("name", "")),
                "arguments": json.dumps(b.get("input") or {}, separators=(",", ":")),
            },
        }
        for b in content
        if b.get("type") == "tool_use"
    ]
    message: JSONObject = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _function_tool(tool: JSONObject) -> JSONObject:
    function: JSONObject = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: JSONObject) -> JSONObject:
    kind = choice.get("type")
    out: JSONObject = {}
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        out["tool_choice"] = {"any": "required", "none": "none"}.get(str(kind), "auto")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


# ---- response ------------------------------------------------------------------------


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else f"msg_{uuid.uuid4().hex[:24]}"


def usage_of(usage: Usage | None) -> JSONObject:
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def to_message(response: ChatResponse) -> JSONObject:
    """An Anthropic Message from a chat completion (its first choice)."""
    choice: JSONObject = response.choices[0] if response.choices else {}
    reply = choice.get("message") or {}
    content: list[JSONObject] = []
    text = reply.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                "name": str(function.get("name", "")),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": usage_of(response.usage),
    }


def parse_arguments(arguments: Any) -> JSONObject:
    """Tool-call arguments as the object Anthropic's `input` is (unparseable: empty)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
