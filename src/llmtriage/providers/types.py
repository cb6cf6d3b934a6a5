"""Typed OpenAI chat-completions objects that keep every field they do not name.

Providers and the proxy pass these along; `extra="allow"` preserves unknown
OpenAI fields (logprobs, seed, service_tier, …) so a client's request reaches an
OpenAI-compatible upstream unchanged, apart from the fields the proxy owns.
Serialisation uses `exclude_unset` for the same reason: what the client did not
send, the upstream does not receive.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JSONObject = dict[str, Any]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: str
    content: str | list[JSONObject] | None = None
    name: str | None = None
    tool_calls: list[JSONObject] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool = False


class ChatRequest(_Open):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    tools: list[JSONObject] | None = None
    tool_choice: str | JSONObject | None = None
    response_format: JSONObject | None = None
    user: str | None = None

    @property
    def wants_usage(self) -> bool:
        """Whether the client asked for the final usage chunk of a stream."""
        return self.stream_options is not None and self.stream_options.include_usage

    def upstream_json(self, model: str, *, stream: bool) -> bytes:
        """The body an OpenAI-compatible upstream receives: the client's, re-targeted.

        Streams always ask for usage so that cost can be accounted; the proxy drops
        the usage chunk again when the client did not ask for it."""
        update: JSONObject = {"model": model, "stream": stream}
        exclude = None
        if stream:
            options = self.stream_options or StreamOptions()
            update["stream_options"] = options.model_copy(update={"include_usage": True})
        else:
            exclude = {"stream_options"}  # OpenAI rejects stream_options without stream
        body = self.model_copy(update=update)
        return body.model_dump_json(exclude_unset=True, exclude=exclude).encode()


class Usage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(_Open):
    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[JSONObject] = Field(default_factory=list)
    usage: Usage | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_unset=True).encode()


class ChatChunk(_Open):
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[JSONObject] = Field(default_factory=list)
    usage: Usage | None = None

    @property
    def usage_only(self) -> bool:
        """The final chunk OpenAI sends for `include_usage`: usage and no choices."""
        return self.usage is not None and not self.choices

    def to_json(self, *, with_usage: bool) -> bytes:
        exclude = None if with_usage else {"usage"}
        return self.model_dump_json(exclude_unset=True, exclude=exclude).encode()
