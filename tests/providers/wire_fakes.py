"""Fake upstreams that speak the real OpenAI and Anthropic wire formats over HTTP.

Each is a small FastAPI app that records what it received (headers and JSON
body), answers deterministically, streams real SSE, and can be told to fail
the next call with a given status, body and headers. Usage is a pure function
of the request (`openai_usage`, `anthropic_usage`) so tests can assert costs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def openai_usage(body: dict[str, Any], reply: str) -> tuple[int, int]:
    chars = sum(len(_text(m.get("content"))) for m in body["messages"])
    return 7 + chars // 4, len(reply.split())


def anthropic_usage(body: dict[str, Any], reply: str) -> tuple[int, int]:
    chars = len(body.get("system", "")) + sum(
        len(_text(m.get("content"))) for m in body["messages"]
    )
    return 11 + chars // 4, len(reply.split())


class _Fake:
    def __init__(self, *, api_key: str) -> None:
        self.api_key = api_key
        self.received: list[Received] = []
        self.failures: list[Failure] = []
        self.hold_after_first_chunk: threading.Event | None = None
        self.app = FastAPI()

    def fail_next(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self.failures.append(Failure(status, body, headers or {}))

    async def _record(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.received.append(Received(dict(request.headers), body))
        return body

    async def _hold(self) -> None:
        gate = self.hold_after_first_chunk
        if gate is not None:
            for _ in range(500):
                if gate.is_set():
                    return
                await asyncio.sleep(0.01)


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


class FakeOpenAI(_Fake):
    def __init__(self, *, api_key: str = "sk-openai-test-key") -> None:
        super().__init__(api_key=api_key)
        self.app.post("/v1/chat/completions")(self._completions)

    @staticmethod
    def reply_for(body: dict[str, Any]) -> str:
        return f"Hello from {body['model']} fake"

    async def _completions(self, request: Request) -> Response:
        body = await self._record(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            error = {
                "message": f"Incorrect API key provided: {self.api_key[:5]}***",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
            return JSONResponse({"error": error}, status_code=401)
        if self.failures:
            failure = self.failures.pop(0)
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        reply = self.reply_for(body)
        prompt, completion = openai_usage(body, reply)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        base = {
            "id": "chatcmpl-fake",
            "created": 1700000000,
            "model": f"{body['model']}-2024-07-18",
            "system_fingerprint": "fp_fake",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            return JSONResponse(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _sse(self._stream(base, reply, usage if with_usage else None))

    async def _stream(
        self, base: dict[str, Any], reply: str, usage: dict[str, int] | None
    ) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            data = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if usage is not None:
                data["usage"] = None
            return f"data: {json.dumps(data)}\n\n".encode()

        yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
        for i, word in enumerate(reply.split(" ")):
            yield chunk({"content": word if i == 0 else " " + word}, None)
            if i == 0:  # after the first token, as the Anthropic fake does
                await self._hold()
        yield chunk({}, "stop")
        if usage is not None:
            final = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            yield f"data: {json.dumps(final)}\n\n".encode()
        yield b"data: [DONE]\n\n"


class FakeAnthropic(_Fake):
    def __init__(self, *, api_key: str = "sk-ant-test-key") -> None:
        super().__init__(api_key=api_key)
        self.app.post("/v1/messages")(self._messages)
        self.stream_error: dict[str, Any] | None = None  # an `error` event after the first delta

    @staticmethod
    def reply_for(body: dict[str, Any]) -> str:
        return f"Bonjour from {body['model']} fake"

    async def _messages(self, request: Request) -> Response:
        body = await self._record(request)
        # The API takes the key as x-api-key (2023-06-01) or a bearer token (2026-10-21 SDKs).
        keys = (request.headers.get("x-api-key"), request.headers.get("authorization"))
        if keys not in ((self.api_key, None), (None, f"Bearer {self.api_key}")) or (
            "anthropic-version" not in request.headers
        ):
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return JSONResponse({"type": "error", "error": error}, status_code=401)
        if self.failures:
            failure = self.failures.pop(0)
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        reply = self.reply_for(body)
        use_tool = bool(body.get("tools")) and (body.get("tool_choice") or {}).get("type") in (
            "any",
            "tool",
        )
        prompt, completion = anthropic_usage(body, reply)
        content: list[dict[str, Any]] = [{"type": "text", "text": reply}]
        stop = "max_tokens" if body["max_tokens"] < 5 else "end_turn"
        if use_tool:
            tool = body["tools"][0]["name"]
            content.append(
                {"type": "tool_use", "id": "toolu_fake1", "name": tool, "input": {"city": "Paris"}}
            )
            stop = "tool_use"
        if body.get("stream"):
            return _sse(self._stream(body, content, stop, prompt, completion))
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": prompt,
                    "output_tokens": completion,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            }
        )

    async def _stream(
        self,
        body: dict[str, Any],
        content: list[dict[str, Any]],
        stop: str,
        prompt: int,
        completion: int,
    ) -> AsyncIterator[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 1},
        }
        yield event("message_start", {"message": message})
        yield event("ping", {})
        for index, block in enumerate(content):
            if block["type"] == "text":
                yield event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
                for i, word in enumerate(block["text"].split(" ")):
                    delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
                    yield event("content_block_delta", {"index": index, "delta": delta})
                    if i == 0:
                        await self._hold()
                        if self.stream_error is not None:
                            yield event("error", {"error": self.stream_error})
                            return
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                yield event("content_block_start", {"index": index, "content_block": start})
                arguments = json.dumps(block["input"])
                for piece in (arguments[:5], arguments[5:]):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    yield event("content_block_delta", {"index": index, "delta": delta})
            yield event("content_block_stop", {"index": index})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": completion},
            },
        )
        yield event("message_stop", {})
