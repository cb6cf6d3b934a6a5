"""Mid-stream resume: a stream that broke after the client got part of the answer is
continued on the next deployment, so that the client sees one answer, not an error.

    Partial        what the client has been sent of the answer, and whether it can be
                   continued at all (one choice, no tool call: half-sent tool arguments
                   cannot be handed to another model to finish)
    continuation   the request again, the partial answer appended as the assistant's
                   last message: a model continues its own turn from there (Anthropic
                   natively; OpenAI-compatible servers as their chat template allows)
    Splice         the continuation's chunks as the rest of the first stream: its role
                   chunk dropped (the client has one), the first stream's id kept, and
                   no whitespace twice where the prefix was cut

The prefix is sent without trailing whitespace (Anthropic refuses a final assistant
message that ends in whitespace); a continuation that begins with the whitespace the
client already has loses it.
"""

from __future__ import annotations

from typing import Any

from llmtriage.providers.types import ChatChunk, ChatMessage, ChatRequest


class Partial:
    def __init__(self) -> None:
        self.text = ""  # choice 0's content so far
        self.id: str | None = None  # the first chunk's: the answer's id for the client
        self._tool_calls = False
        self._other_choices = False

    def see(self, chunk: ChatChunk) -> None:
        if self.id is None and chunk.id:
            self.id = chunk.id
        for choice in chunk.choices:
            if int(choice.get("index", 0)) != 0:
                self._other_choices = True
                continue
            delta: dict[str, Any] = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call"):
                self._tool_calls = True
            content = delta.get("content")
            if isinstance(content, str):
                self.text += content

    def why_not(self) -> str | None:
        """Why this answer cannot be continued elsewhere (None: it can)."""
        if self._tool_calls:
            return "tool-call arguments were half sent, and no other model can finish them"
        if self._other_choices:
            return "several choices (n > 1) were streamed"
        return None


def continuation(request: ChatRequest, partial: str) -> ChatRequest:
    """`request` with the partial answer as the assistant's last turn, to continue."""
    prefix = ChatMessage(role="assistant", content=partial.rstrip())
    return request.model_copy(update={"messages": [*request.messages, prefix]})


class Splice:
    """Rewrites one continuation's chunks to follow the partial answer seamlessly."""

    def __init__(self, partial: Partial) -> None:
        self._id = partial.id
        # The client has this whitespace already; the prefix sent upstream had none.
        self._sent_space = partial.text[len(partial.text.rstrip()) :]

    def __call__(self, chunk: ChatChunk) -> ChatChunk | None:
        """The chunk as the client should see it; None: nothing left of it to send."""
        choices, changed = [], False
        for choice in chunk.choices:
            delta: dict[str, Any] = dict(choice.get("delta") or {})
            if delta.pop("role", None) is not None:
                changed = True
            content = delta.get("content")
            if self._sent_space and isinstance(content, str) and content:
                delta["content"] = content.lstrip() if content[:1].isspace() else content
                self._sent_space = ""
                changed = True
            if _empty(choice, delta):
                changed = True
                continue
            choices.append({**choice, "delta": delta})
        if not choices and chunk.choices and chunk.usage is None:
            return None
        update: dict[str, Any] = {}
        if changed:
            update["choices"] = choices
        if self._id and chunk.id != self._id:
            update["id"] = self._id
        return chunk.model_copy(update=update) if update else chunk


def _empty(choice: dict[str, Any], delta: dict[str, Any]) -> bool:
    return (
        choice.get("finish_reason") is None
        and not choice.get("logprobs")
        and not any(value for value in delta.values())
    )
