"""Fake upstreams for the ingress tests, beyond tests/providers/wire_fakes.py's:

    ToolOpenAI       FakeOpenAI that answers with a tool call when the request requires
                     one (tool_choice "required" or a named function), whole or streamed
    ToolAnthropic    FakeAnthropic with /v1/messages/count_tokens, and thinking blocks
                     (thinking + signature deltas when streamed) when the body asks for
                     extended thinking
Both record what they received, as their parents do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI, openai_usage

COUNT = 4242  # what the fake's count_tokens answers, whatever the body


class ToolOpenAI(FakeOpenAI):
    async def _completions(self, request: Request) -> Response:
        body = json.loads(await request.body())
        choice = body.get("tool_choice")
        if not body.get("tools") or choice in (None, "auto", "none"):
            return await super()._completions(request)
        self.received.append(_received(request, body))
        name = (
            choice["function"]["name"]
            if isinstance(choice, dict)
            else body["tools"][0]["function"]["name"]
        )
        call = {"id": "call_fake1", "type": "function", "function": {"name": name}}
        arguments = json.dumps({"city": "Paris"})
        prompt, completion = openai_usage(body, "x y")
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}  # fmt: skip
        base = {"id": "chatcmpl-tool", "created": 1700000000, "model": body["model"]}
        if not body.get("stream"):
            whole = {**call, "function": {"name": name, "arguments": arguments}}
            message = {"role": "assistant", "content": None, "tool_calls": [whole]}
            choices = [{"index": 0, "message": message, "finish_reason": "tool_calls"}]
            return JSONResponse({**base, "object": "chat.completion", "choices": choices,
                                 "usage": usage})  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
                choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
                data = {**base, "object": "chat.completion.chunk", "choices": choices}
                return f"data: {json.dumps(data)}\n\n".encode()

            yield chunk({"role": "assistant", "content": None}, None)
            first = {**call, "index": 0, "function": {"name": name, "arguments": ""}}
            yield chunk({"tool_calls": [first]}, None)
            for piece in (arguments[:6], arguments[6:]):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None)
            yield chunk({}, "tool_calls")
            final = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            yield f"data: {json.dumps(final)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


class ToolAnthropic(FakeAnthropic):
    def __init__(self) -> None:
        super().__init__()
        self.app.post("/v1/messages/count_tokens")(self._count)

    async def _count(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(_received(request, body))
        if request.headers.get("x-api-key") != self.api_key:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return JSONResponse({"type": "error", "error": error}, status_code=401)
        return JSONResponse({"input_tokens": COUNT})

    async def _messages(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if not body.get("thinking"):
            return await super()._messages(request)
        self.received.append(_received(request, body))
        if self.failures:
            failure = self.failures.pop(0)
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        thinking = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-fake"}
        text = {"type": "text", "text": "Thought about it"}
        message = {"id": "msg_think", "type": "message", "role": "assistant",
                   "model": body["model"], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 30, "output_tokens": 7,
                             "cache_read_input_tokens": 12}}  # fmt: skip
        if not body.get("stream"):
            return JSONResponse({**message, "content": [thinking, text]})

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            start = {**message, "content": [], "stop_reason": None}
            yield event("message_start", {"message": start})
            yield event("content_block_start", {"index": 0, "content_block": {
                "type": "thinking", "thinking": "", "signature": ""}})  # fmt: skip
            yield event("content_block_delta", {"index": 0, "delta": {
                "type": "thinking_delta", "thinking": "Let me think."}})  # fmt: skip
            yield event("content_block_delta", {"index": 0, "delta": {
                "type": "signature_delta", "signature": "sig-fake"}})  # fmt: skip
            yield event("content_block_stop", {"index": 0})
            yield event("ping", {})
            yield event("content_block_start", {"index": 1, "content_block": {
                "type": "text", "text": ""}})  # fmt: skip
            yield event("content_block_delta", {"index": 1, "delta": {
                "type": "text_delta", "text": "Thought about it"}})  # fmt: skip
            yield event("content_block_stop", {"index": 1})
            yield event("message_delta", {"delta": {"stop_reason": "end_turn",
                        "stop_sequence": None}, "usage": {"output_tokens": 7}})  # fmt: skip
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


def _received(request: Request, body: dict[str, Any]) -> Any:
    from tests.providers.wire_fakes import Received

    return Received(dict(request.headers), body)
