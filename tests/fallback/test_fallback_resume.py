"""The pieces of a mid-stream resume: what was sent, the continuation request, and the
continuation's chunks spliced onto the first stream."""

from __future__ import annotations

from typing import Any

from llmtriage.fallback.resume import Partial, Splice, continuation
from llmtriage.providers.anthropic_translate import to_messages_body
from llmtriage.providers.types import ChatChunk, ChatRequest

REQUEST = ChatRequest.model_validate(
    {"model": "auto", "messages": [{"role": "user", "content": "Name a river."}]}
)


def chunk(delta: dict[str, Any], *, id: str = "c1", finish: str | None = None) -> ChatChunk:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return ChatChunk.model_validate({"id": id, "model": "m", "choices": [choice]})


def sent(*deltas: dict[str, Any]) -> Partial:
    partial = Partial()
    for delta in deltas:
        partial.see(chunk(delta))
    return partial


def test_partial_keeps_the_text_and_the_first_id() -> None:
    partial = sent({"role": "assistant", "content": ""}, {"content": "The"}, {"content": " Rhine"})
    assert partial.text == "The Rhine" and partial.id == "c1" and partial.why_not() is None


def test_tool_calls_cannot_be_resumed() -> None:
    partial = sent({"tool_calls": [{"index": 0, "function": {"arguments": '{"q'}}]})
    assert partial.why_not() is not None and "tool-call" in str(partial.why_not())


def test_continuation_appends_the_prefix_without_trailing_space() -> None:
    follow = continuation(REQUEST, "The Rhine flows ")
    assert [m.role for m in follow.messages] == ["user", "assistant"]
    assert follow.messages[-1].content == "The Rhine flows"
    assert len(REQUEST.messages) == 1  # the client's request is left as it was


def test_anthropic_gets_the_prefix_as_a_prefill() -> None:
    body = to_messages_body(
        continuation(REQUEST, "The Rhine"),
        model="claude",
        max_output_tokens=100,
        stream=True,
        sampling=True,
    )
    last = body["messages"][-1]
    assert last == {"role": "assistant", "content": [{"type": "text", "text": "The Rhine"}]}


def test_splice_drops_the_role_keeps_the_id_and_the_space_once() -> None:
    splice = Splice(sent({"content": "The Rhine "}))  # the client has the space already
    assert splice(chunk({"role": "assistant", "content": ""}, id="c2")) is None
    first = splice(chunk({"content": " flows"}, id="c2"))
    assert first is not None and first.id == "c1"
    assert first.choices[0]["delta"] == {"content": "flows"}
    later = splice(chunk({"content": " north"}, id="c2"))
    assert later is not None and later.choices[0]["delta"] == {"content": " north"}
    end = splice(chunk({}, id="c2", finish="stop"))
    assert end is not None and end.choices[0]["finish_reason"] == "stop"
    assert b'"id":"c1"' in end.to_json(with_usage=True)


def test_splice_passes_the_usage_chunk() -> None:
    splice = Splice(sent({"content": "The"}))
    usage = ChatChunk.model_validate(
        {"id": "c2", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    )
    out = splice(usage)
    assert out is not None and out.usage is not None and out.id == "c1"
