"""A routed stream as OpenAI Responses SSE events, each numbered (`sequence_number`).

    response.created, response.in_progress
    per output item: response.output_item.added, then for a message
        response.content_part.added, response.output_text.delta…, response.output_text.done,
        response.content_part.done; for a function call
        response.function_call_arguments.delta…, response.function_call_arguments.done;
    response.output_item.done
    response.completed (or response.incomplete), with the whole response

An upstream failure after the stream started: an `error` event, then response.failed.
"""

from __future__ import annotations

import json
from typing import Any

from llmtriage.providers.types import ChatChunk, JSONObject, Usage
from llmtriage.server.ingress.dialect import Failure
from llmtriage.server.ingress.responses import (
    ResponsesBody,
    call_item,
    message_item,
    new_id,
    response_object,
)


class ResponsesEvents:
    def __init__(self, response_id: str, body: ResponsesBody, *, model: str) -> None:
        self.response_id = response_id
        self._body = body
        self.model = model
        self._sequence = 0
        self._started = False
        self.output: list[JSONObject] = []  # items done, in order
        self._open: JSONObject | None = None  # the item being streamed
        self._text = ""
        self._calls: dict[int, JSONObject] = {}  # OpenAI tool-call index → its item
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.final: JSONObject | None = None  # the response once complete

    def _event(self, kind: str, data: JSONObject) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

    def _response(self, status: str | None) -> JSONObject:
        return response_object(
            self.response_id,
            self._body,
            model=self.model,
            output=list(self.output),
            usage=self.usage,
            finish_reason=self.finish_reason,
            status=status,
        )

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        out = self._start() if not self._started else []
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                out += self._text_delta(content)
            for call in delta.get("tool_calls") or []:
                out += self._call_delta(call)
            if choice.get("finish_reason") is not None:
                self.finish_reason = choice["finish_reason"]
        return out

    def end(self) -> list[bytes]:
        out = self._start() if not self._started else []
        out += self._close()
        self.final = self._response(None)
        kind = (
            "response.completed" if self.final["status"] == "completed" else "response.incomplete"
        )
        return [*out, self._event(kind, {"response": self.final})]

    def error(self, failure: Failure) -> list[bytes]:
        out = self._start() if not self._started else []
        error = {"code": failure.code, "message": failure.message, "param": failure.param}
        failed = self._response("failed") | {
            "error": {"code": failure.code or "server_error", "message": failure.message}
        }
        return [
            *out,
            self._event("error", error),
            self._event("response.failed", {"response": failed}),
        ]

    def _start(self) -> list[bytes]:
        self._started = True
        opening = self._response("in_progress")
        return [
            self._event("response.created", {"response": opening}),
            self._event("response.in_progress", {"response": opening}),
        ]

    def _text_delta(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open["type"] != "message":
            out += self._close()
            item = message_item(new_id("msg"), "", status="in_progress")
            out += self._add(item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out.append(self._event("response.content_part.added", self._at(item) | {"part": part}))
        assert self._open is not None
        self._text += text
        data = self._at(self._open) | {"delta": text, "logprobs": []}
        return [*out, self._event("response.output_text.delta", data)]

    def _call_delta(self, call: Any) -> list[bytes]:
        position = int(call.get("index", 0))
        function = call.get("function") or {}
        out: list[bytes] = []
        item = self._calls.get(position)
        if item is None:
            out += self._close()
            item = call_item(
                new_id("fc"),
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                "",
                status="in_progress",
            )
            self._calls[position] = item
            out += self._add(item)
        arguments = function.get("arguments")
        if arguments:
            item["arguments"] += arguments
        if arguments and item is self._open:
            data = {"item_id": item["id"], "output_index": len(self.output), "delta": arguments}
            out.append(self._event("response.function_call_arguments.delta", data))
        return out

    def _at(self, item: JSONObject) -> JSONObject:
        return {"item_id": item["id"], "output_index": len(self.output), "content_index": 0}

    def _add(self, item: JSONObject) -> list[bytes]:
        self._open = item
        added = {"output_index": len(self.output), "item": dict(item)}
        return [self._event("response.output_item.added", added)]

    def _close(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        out: list[bytes] = []
        index = len(self.output)
        if item["type"] == "message":
            done = message_item(item["id"], self._text)
            part = done["content"][0]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out.append(
                self._event(
                    "response.output_text.done", where | {"text": self._text, "logprobs": []}
                )
            )
            out.append(self._event("response.content_part.done", where | {"part": part}))
            self._text = ""
        else:
            done = item | {"status": "completed"}
            args = {
                "item_id": item["id"],
                "output_index": index,
                "arguments": item["arguments"],
                "name": item["name"],
            }
            out.append(self._event("response.function_call_arguments.done", args))
        self.output.append(done)
        out.append(self._event("response.output_item.done", {"output_index": index, "item": done}))
        return out
