"""Anthropic Messages SSE events → OpenAI `chat.completion.chunk`s.

    message_start        → a role chunk (`delta: {role: assistant, content: ""}`)
    content_block_start  → for tool_use: a tool_calls chunk with id and name
    content_block_delta  → text_delta: content; input_json_delta: tool arguments
    message_delta        → a finish_reason chunk (end_turn → stop, max_tokens → length, …)
    message_stop         → the usage-only chunk (choices: [], usage)
    ping, content_block_stop → nothing
    error                → ProviderStreamError

OpenAI numbers tool calls among tool calls only; Anthropic numbers all content
blocks, so block indices are remapped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from llmtriage.providers.anthropic_translate import AnthropicMessage, AnthropicUsage, finish_reason
from llmtriage.providers.errors import ProviderStreamError, provider_message
from llmtriage.providers.types import ChatChunk, JSONObject


class StreamTranslator:
    def __init__(
        self, *, deployment: str, model: str, chunk_type: type[ChatChunk] = ChatChunk
    ) -> None:
        self._deployment = deployment
        self._chunk_type = chunk_type  # a subclass carries passthrough events along
        self._id = ""
        self._model = model
        self._created = int(time.time())
        self._usage = AnthropicUsage()
        self._tool_index: dict[int, int] = {}
        self._handlers: dict[str, Callable[[JSONObject], list[ChatChunk]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def feed(self, event: JSONObject) -> list[ChatChunk]:
        handler = self._handlers.get(str(event.get("type")))
        return handler(event) if handler is not None else []

    def _chunk(self, delta: JSONObject, finish: str | None = None) -> ChatChunk:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return self._chunk_type(
            id=self._id,
            object="chat.completion.chunk",
            created=self._created,
            model=self._model,
            choices=[choice],
        )

    def _message_start(self, event: JSONObject) -> list[ChatChunk]:
        message = AnthropicMessage.model_validate(event.get("message") or {})
        self._id, self._model, self._usage = message.id, message.model or self._model, message.usage
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, event: JSONObject) -> list[ChatChunk]:
        block = event.get("content_block") or {}
        if block.get("type") != "tool_use":
            return []
        position = len(self._tool_index)
        self._tool_index[int(event.get("index", 0))] = position
        call = {
            "index": position,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, event: JSONObject) -> list[ChatChunk]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta":
            position = self._tool_index.get(int(event.get("index", 0)), 0)
            call = {"index": position, "function": {"arguments": delta.get("partial_json", "")}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking / signature deltas have no OpenAI equivalent

    def _message_delta(self, event: JSONObject) -> list[ChatChunk]:
        usage = event.get("usage") or {}
        # message_delta usage is cumulative; input counts may be restated there.
        restated = {k: v for k, v in usage.items() if v is not None}
        self._usage = AnthropicUsage.model_validate({**self._usage.model_dump(), **restated})
        stop = (event.get("delta") or {}).get("stop_reason")
        return [self._chunk({}, finish_reason(stop) or "stop")]

    def _message_stop(self, _: JSONObject) -> list[ChatChunk]:
        return [self.usage_chunk()]

    def usage_chunk(self) -> ChatChunk:
        """The usage-only chunk, from the usage counted so far (message_delta's is final)."""
        return self._chunk_type(
            id=self._id,
            object="chat.completion.chunk",
            created=self._created,
            model=self._model,
            choices=[],
            usage=self._usage.to_openai(),
        )

    def _error(self, event: JSONObject) -> list[ChatChunk]:
        message, error_type = provider_message(event)
        raise ProviderStreamError(
            message or "error event in the stream",
            deployment=self._deployment,
            error_type=error_type,
        )
