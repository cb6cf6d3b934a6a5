"""OpenAI Responses ⇄ the internal chat types, as pure functions (no I/O).

No deployment speaks the Responses API, so every request is translated to Chat
Completions (and, by the Anthropic provider, on to Messages):

    instructions                   → a system message first (not carried over by
                                     previous_response_id, as in the API)
    input string                   → one user message
    message items (any role)       → messages; input_text/output_text → text parts,
                                     input_image → image_url, input_file → file
    function_call items            → the preceding assistant message's tool_calls
    function_call_output items     → tool messages; reasoning items are dropped
    tools (function)               → chat function tools; built-in tools (web search,
                                     file search, …) run only at OpenAI: a 400
    tool_choice, text.format       → tool_choice, response_format
    max_output_tokens              → max_tokens

The answer becomes a `response` object: a message item (output_text) and function_call
items, status `completed` or `incomplete` (max_output_tokens, content_filter).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmtriage.errors import InputError
from llmtriage.providers.types import ChatRequest, ChatResponse, JSONObject, Usage


class ResponsesBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[JSONObject]
    instructions: str | None = None
    tools: list[JSONObject] | None = None
    tool_choice: str | JSONObject | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    previous_response_id: str | None = None
    store: bool = True
    metadata: dict[str, str] | None = None
    user: str | None = None
    parallel_tool_calls: bool | None = None
    text: JSONObject | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def conversation(body: ResponsesBody, prior: list[JSONObject]) -> list[JSONObject]:
    """The chat messages of the conversation so far: a stored one, then this input."""
    messages = list(prior)
    items: list[JSONObject] = (
        [{"role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    )
    for index, item in enumerate(items):
        _item(item, messages, index)
    return messages


def to_chat_request(body: ResponsesBody, messages: list[JSONObject]) -> ChatRequest:
    chat: JSONObject = {"model": body.model, "messages": messages}
    if body.instructions:
        chat["messages"] = [{"role": "system", "content": body.instructions}, *messages]
    if body.stream:
        chat["stream"] = True
    if body.max_output_tokens is not None:
        chat["max_tokens"] = body.max_output_tokens
    for name in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if getattr(body, name) is not None:
            chat[name] = getattr(body, name)
    if body.tools:
        chat["tools"] = [_tool(tool, i) for i, tool in enumerate(body.tools)]
    if body.tool_choice is not None:
        chat["tool_choice"] = _tool_choice(body.tool_choice)
    fmt = (body.text or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return ChatRequest.model_validate(chat)


def _item(item: JSONObject, out: list[JSONObject], index: int) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise InputError(f"input.{index}.role: '{role}' is not a role", param=f"input.{index}")
        out.append({"role": role, "content": _content(item.get("content"), role, index)})
    elif kind == "function_call":
        call = {
            "id": str(item.get("call_id", "")),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
        }
        last = out[-1] if out else None
        if last is not None and last.get("role") == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            out.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else _text(output)
        out.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")), "content": text})
    elif kind != "reasoning":  # reasoning items: nothing a chat model reads
        raise InputError(
            f"input.{index}: items of type '{kind}' are not supported by llmtriage",
            param=f"input.{index}.type",
        )


def _content(content: Any, role: str, index: int) -> str | list[JSONObject]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InputError(f"input.{index}.content: a string or a list of parts", param="input")
    if role != "user":
        return _text(content)
    parts: list[JSONObject] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and part.get("image_url"):
            image: JSONObject = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if k in part}
            parts.append({"type": "file", "file": file})
        else:
            raise InputError(
                f"input.{index}.content: part type '{kind}' is not supported by llmtriage",
                param=f"input.{index}.content",
            )
    return parts


def _text(content: Any) -> str:
    if not isinstance(content, list):
        return str(content or "")
    return "".join(
        str(part.get("text") or part.get("refusal") or "")
        for part in content
        if isinstance(part, dict)
    )


def _tool(tool: JSONObject, index: int) -> JSONObject:
    if tool.get("type") != "function":
        raise InputError(
            f"tools.{index}: '{tool.get('type')}' tools run only at OpenAI; llmtriage routes "
            "function tools",
            param=f"tools.{index}.type",
        )
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _tool_choice(choice: str | JSONObject) -> str | JSONObject:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return "auto"


# ---- response ------------------------------------------------------------------------


def usage_of(usage: Usage | None) -> JSONObject:
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> JSONObject:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [part] if status == "completed" else [],
    }


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> JSONObject:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def output_of(response: ChatResponse) -> tuple[list[JSONObject], str | None]:
    """The output items of a whole answer, and its finish_reason."""
    choice: JSONObject = response.choices[0] if response.choices else {}
    reply = choice.get("message") or {}
    items: list[JSONObject] = []
    text = reply.get("content")
    if isinstance(text, str) and text:
        items.append(message_item(new_id("msg"), text))
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(
            call_item(
                new_id("fc"),
                str(call.get("id") or new_id("call")),
                str(function.get("name", "")),
                str(function.get("arguments") or "{}"),
            )
        )
    return items, choice.get("finish_reason")


def response_object(
    response_id: str,
    body: ResponsesBody,
    *,
    model: str,
    output: list[JSONObject],
    usage: Usage | None,
    finish_reason: str | None,
    status: str | None = None,
    created_at: int | None = None,
) -> JSONObject:
    """A `response` object; `status` None: from the finish reason."""
    incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}
    reason = incomplete.get(finish_reason or "")
    if status is None:
        status = "incomplete" if reason else "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": reason} if reason and status == "incomplete" else None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "store": body.store,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "text": body.text or {"format": {"type": "text"}},
        "tool_choice": body.tool_choice or "auto",
        "tools": body.tools or [],
        "metadata": body.metadata or {},
        "usage": usage_of(usage) if status != "in_progress" else None,
    }


def assistant_message(output: list[JSONObject]) -> JSONObject | None:
    """The output as a chat assistant message, for the stored conversation."""
    text = "".join(
        part["text"]
        for item in output
        if item["type"] == "message"
        for part in item["content"]
        if part.get("type") == "output_text"
    )
    calls = [
        {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]},
        }
        for item in output
        if item["type"] == "function_call"
    ]
    if not text and not calls:
        return None
    message: JSONObject = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message
