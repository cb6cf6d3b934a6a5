"""A routed stream as Anthropic Messages SSE events.

    message_start → ping → per content block: content_block_start, content_block_delta
    (text_delta, or input_json_delta for a tool's input), content_block_stop →
    message_delta (stop_reason, usage) → message_stop

Chunks of an Anthropic deployment called in passthrough carry the upstream's own events
(providers/anthropic_passthrough.py): those are sent as they came, thinking and
signature deltas included. Chunks of any other deployment (OpenAI-format, a cascade's
replayed cheap answer, a resumed stream's continuation) are translated; the writer
follows the block indices either way, so a stream may switch from one to the other.
"""

from __future__ import annotations

import json
from typing import Any

from llmtriage.providers.anthropic_passthrough import raw_events
from llmtriage.providers.types import ChatChunk, JSONObject
from llmtriage.server.ingress.dialect import ANTHROPIC, Failure
from llmtriage.server.ingress.messages import message_id, stop_reason


def event(name: str, data: JSONObject) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class MessagesEvents:
    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._open: int | None = None  # the content block open now
        self._open_kind = ""
        self._next = 0  # the next block's index
        self._tools: dict[int, int] = {}  # OpenAI tool-call index → block index
        self._finish: str | None = None
        self._usage: JSONObject = {}
        self._upstream_done = False  # the upstream's own message_delta went out

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        events = raw_events(chunk)
        if events is not None:
            return [self._raw(name, data) for name, data in events]
        out: list[bytes] = []
        if not self._started:
            out += self._start(chunk)
        if chunk.usage is not None:
            self._usage = {
                "input_tokens": chunk.usage.prompt_tokens,
                "output_tokens": chunk.usage.completion_tokens,
            }
        for choice in chunk.choices:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                out += self._text(content)
            for call in delta.get("tool_calls") or []:
                out += self._tool(call)
            if choice.get("finish_reason") is not None:
                self._finish = choice["finish_reason"]
                out += self._close()
        return out

    def end(self) -> list[bytes]:
        """What closes the message (nothing when the upstream's own events closed it)."""
        if self._upstream_done:
            return []
        out = self._start(None) if not self._started else []
        out += self._close()
        usage = {"output_tokens": self._usage.get("output_tokens", 0)}
        if "input_tokens" in self._usage:
            usage["input_tokens"] = self._usage["input_tokens"]
        delta = {"stop_reason": stop_reason(self._finish), "stop_sequence": None}
        out.append(
            event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def error(self, failure: Failure) -> list[bytes]:
        return [ANTHROPIC.event(failure)]

    # ---- passthrough ------------------------------------------------------------------

    def _raw(self, name: str, data: str) -> bytes:
        if name == "message_start":
            self._started = True
        elif name == "content_block_start":
            index = _index(data)
            self._open, self._next = index, max(self._next, index + 1)
            self._open_kind = "raw"
        elif name == "content_block_stop":
            self._open = None
        elif name in ("message_delta", "message_stop"):
            self._upstream_done = True
        return f"event: {name}\ndata: {data}\n\n".encode()

    # ---- translation ------------------------------------------------------------------

    def _start(self, chunk: ChatChunk | None) -> list[bytes]:
        self._started = True
        message: JSONObject = {
            "id": message_id(chunk.id if chunk is not None else ""),
            "type": "message",
            "role": "assistant",
            "model": (chunk.model if chunk is not None else "") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [
            event("message_start", {"type": "message_start", "message": message}),
            event("ping", {"type": "ping"}),
        ]

    def _open_block(self, kind: str, block: JSONObject) -> list[bytes]:
        out = self._close()
        self._open, self._open_kind = self._next, kind
        self._next += 1
        start = {"type": "content_block_start", "index": self._open, "content_block": block}
        return [*out, event("content_block_start", start)]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _delta(self, index: int, delta: JSONObject) -> bytes:
        return event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open_kind != "text":
            out += self._open_block("text", {"type": "text", "text": ""})
        assert self._open is not None
        return [*out, self._delta(self._open, {"type": "text_delta", "text": text})]

    def _tool(self, call: Any) -> list[bytes]:
        position = int(call.get("index", 0))
        out: list[bytes] = []
        function = call.get("function") or {}
        if position not in self._tools:
            block: JSONObject = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name") or "",
                "input": {},
            }
            out += self._open_block("tool_use", block)
            assert self._open is not None
            self._tools[position] = self._open
        arguments = function.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(self._delta(self._tools[position], delta))
        return out


def _index(data: str) -> int:
    try:
        return int(json.loads(data).get("index", 0))
    except (ValueError, AttributeError, TypeError):
        return 0
