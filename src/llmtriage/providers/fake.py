"""An in-memory provider for tests and offline demos (the httpx `MockTransport` idea).

It answers at once with a scripted reply, records every request it received and
raises a queued error when told to. Usage is deterministic: one prompt token per
four characters of the conversation (rounded up), one completion token per word.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import httpx

from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import ProviderCallError
from llmtriage.providers.types import ChatChunk, ChatRequest, ChatResponse, Usage
from llmtriage.text import content_text

DEFAULT_BASE_URL = "memory://fake"


@dataclass
class Script:
    """What a FakeProvider answers; shared so a test can steer providers it did not build."""

    reply: str = "fake reply"
    errors: list[ProviderCallError] = field(default_factory=list)
    received: list[ChatRequest] = field(default_factory=list)


class FakeProvider:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        client: httpx.AsyncClient | None = None,
        script: Script | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.script = script or Script()

    def _take(self, request: ChatRequest) -> Usage:
        self.script.received.append(request)
        if self.script.errors:
            raise self.script.errors.pop(0)
        chars = sum(len(content_text(m.content)) for m in request.messages)
        prompt, completion = math.ceil(chars / 4), len(self.script.reply.split())
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )

    async def complete(self, request: ChatRequest, *, timeout: Timeouts) -> ChatResponse:
        usage = self._take(request)
        message = {"role": "assistant", "content": self.script.reply}
        return ChatResponse(
            id="fake-1",
            object="chat.completion",
            created=0,
            model=self.endpoint.model,
            choices=[{"index": 0, "message": message, "finish_reason": "stop"}],
            usage=usage,
        )

    async def stream(
        self, request: ChatRequest, *, timeout: Timeouts
    ) -> AsyncGenerator[ChatChunk, None]:
        usage = self._take(request)
        words = self.script.reply.split(" ")
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": word if i == 0 else " " + word} for i, word in enumerate(words)
        ]
        for delta in deltas:
            yield self._chunk([{"index": 0, "delta": delta, "finish_reason": None}])
        yield self._chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        yield self._chunk([], usage=usage)

    def _chunk(self, choices: list[dict[str, object]], usage: Usage | None = None) -> ChatChunk:
        # usage is passed only when present: an explicit None would be "set" and dumped as null.
        extra = {} if usage is None else {"usage": usage}
        return ChatChunk(
            id="fake-1",
            object="chat.completion.chunk",
            created=0,
            model=self.endpoint.model,
            choices=choices,
            **extra,
        )
