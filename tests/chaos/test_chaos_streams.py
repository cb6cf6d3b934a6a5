"""Streams under injected faults: before the first token, retry and fall back unseen;
after it, resume on the next deployment from what the client has (or, with
`mid_stream: error` or a half-sent tool call, end with an error event and never
`[DONE]`), so that no cut stream can pass for a complete one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.chaos.harness import chaos_config, running, sdk, sse
from tests.chaos.upstream import (
    Act,
    FakeUpstream,
    cut,
    http,
    malformed,
    no_done,
    reset,
    slow,
    stall,
)

Up = dict[str, FakeUpstream]
USER: Any = [{"role": "user", "content": "Tell me a story."}]
BODY = {"model": "cheap", "messages": USER, "stream": True}


@pytest.fixture
def url(urls: dict[str, str]) -> Iterator[str]:
    with running(chaos_config(urls)) as url:
        yield url


def text_of(lines: list[str]) -> str:
    out = []
    for line in lines:
        if line.startswith("data: {"):
            chunk = json.loads(line.removeprefix("data: "))
            out += [c["delta"].get("content") or "" for c in chunk.get("choices", [])]
    return "".join(out)


def assert_complete(lines: list[str], reply: str) -> None:
    assert lines[-1] == "data: [DONE]" and text_of(lines) == reply
    assert not any('"error"' in line for line in lines)


def assert_error_ended(lines: list[str]) -> dict[str, Any]:
    """The stream ends with an OpenAI-style error event and carries no [DONE]."""
    assert "data: [DONE]" not in lines
    last = json.loads(lines[-1].removeprefix("data: "))
    assert set(last) == {"error"}
    return dict(last["error"])


def test_sdk_stream_falls_back_before_the_first_chunk(up: Up, url: str) -> None:
    up["a"].chooser = lambda _: http(503)
    with (
        sdk(url) as client,
        client.chat.completions.with_streaming_response.create(
            model="cheap", messages=USER, stream=True
        ) as response,
    ):
        assert response.headers["x-llmtriage-model"] == "model-b"
        assert response.headers["x-llmtriage-fallbacks"] == "a=overloaded"
        chunks = list(response.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer from b"
    assert {c.model for c in chunks} == {"model-b"}


def test_reset_before_headers_is_retried(up: Up, url: str) -> None:
    up["a"].script.append(reset())
    headers, lines = sse(url, BODY)
    assert_complete(lines, "answer from a")
    assert headers["x-llmtriage-attempts"] == "2" and "x-llmtriage-fallbacks" not in headers


def test_500_once_on_a_stream_is_retried(up: Up, url: str) -> None:
    up["a"].script.append(http(500))
    _, lines = sse(url, BODY)
    assert_complete(lines, "answer from a")
    assert (up["a"].calls, up["b"].calls) == (2, 0)


def test_429_on_a_stream_waits_for_retry_after(up: Up, url: str) -> None:
    up["a"].script.append(http(429, "slow down", retry_after_ms="200"))
    start = time.monotonic()
    _, lines = sse(url, BODY)
    assert time.monotonic() - start >= 0.2
    assert_complete(lines, "answer from a")
    assert (up["a"].calls, up["b"].calls) == (2, 0)


def test_slow_first_token_falls_back(up: Up, url: str) -> None:
    up["a"].script.append(slow(3.0))  # headers at once, first chunk after 3 s
    start = time.monotonic()
    headers, lines = sse(url, BODY)
    assert time.monotonic() - start < 1.5  # first_token: 0.5 s
    assert_complete(lines, "answer from b")
    assert headers["x-llmtriage-fallbacks"] == "a=timeout"
    assert (up["a"].calls, up["b"].calls) == (1, 1)


def malformed_count(url: str, deployment: str) -> float:
    name = f'llmtriage_stream_malformed_chunks_total{{deployment="{deployment}"}}'
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("at", [0, 2])
def test_a_malformed_chunk_is_skipped_and_counted(up: Up, url: str, at: int) -> None:
    up["a"].script.append(malformed(at=at))
    headers, lines = sse(url, BODY)
    assert_complete(lines, "answer from a")
    assert "x-llmtriage-fallbacks" not in headers and up["b"].calls == 0
    assert malformed_count(url, "a") == 1


def test_more_malformed_chunks_than_the_limit_break_the_stream(up: Up, url: str) -> None:
    up["a"].script.append(malformed(at=0, count=4))  # the limit is 3: before any token
    headers, lines = sse(url, BODY)
    assert_complete(lines, "answer from b")
    assert headers["x-llmtriage-fallbacks"] == "a=protocol" and malformed_count(url, "a") == 3


def test_empty_stream_is_retried_unseen(up: Up, url: str) -> None:
    up["a"].script.append(cut(at=0))  # headers, then the connection closes
    headers, lines = sse(url, BODY)
    assert_complete(lines, "answer from a")
    assert headers["x-llmtriage-attempts"] == "2"


def trailer(lines: list[str]) -> dict[str, str]:
    pairs = [line.removeprefix(": ").partition("=") for line in lines if line.startswith(": ")]
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize("fault", [cut(at=3), stall(at=3)], ids=["cut", "stall"])
def test_a_stream_broken_midway_is_resumed_on_the_next(up: Up, url: str, fault: Act) -> None:
    """a sent "answer from", then broke: b continues from there, the client reads one
    answer and the trailer names both deployments."""
    up["a"].script.append(fault)
    start = time.monotonic()
    headers, lines = sse(url, BODY)
    assert time.monotonic() - start < 1.5  # a stall costs idle (0.5 s), not read or total
    assert headers["x-llmtriage-model"] == "model-a"  # who started: sent before it broke
    assert_complete(lines, "answer from b")
    assert trailer(lines)["x-llmtriage-resumed-from"] == "a"
    assert trailer(lines)["x-llmtriage-deployment"] == "b"
    continued = up["b"].received[-1]["messages"]
    assert continued[-1] == {"role": "assistant", "content": "answer from"}
    assert continued[:-1] == USER
    chunks = [json.loads(x.removeprefix("data: ")) for x in lines if x.startswith("data: {")]
    assert len({c["id"] for c in chunks}) == 1  # one answer's id throughout
    assert sum('"role"' in json.dumps(c) for c in chunks) == 1


def test_a_resumed_stream_reads_as_one_answer_in_the_sdk(up: Up, url: str) -> None:
    up["a"].script.append(cut(at=2))
    with sdk(url) as client:
        stream = client.chat.completions.create(
            model="cheap", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "answer from b"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


def test_mid_stream_error_policy_ends_with_an_error_event(up: Up, urls: dict[str, str]) -> None:
    up["a"].script.append(cut(at=3))
    with running(chaos_config(urls, fallback={"mid_stream": "error"})) as url:
        headers, lines = sse(url, BODY)
        up["a"].script.append(cut(at=3))
        with sdk(url) as client, pytest.raises(openai.APIError, match="deployment 'a'"):
            list(client.chat.completions.create(model="cheap", messages=USER, stream=True))
    assert headers["x-llmtriage-model"] == "model-a"
    error = assert_error_ended(lines)
    assert error["code"] == "upstream_error" and "a" in error["message"]
    assert text_of(lines) == "answer from"  # what had arrived, nothing invented
    assert up["b"].calls == 0


def test_half_sent_tool_call_arguments_end_with_a_clear_error(up: Up, url: str) -> None:
    up["a"].script.append(cut(at=3))  # the call's name and its first argument piece
    tools = [{"type": "function", "function": {"name": "find", "parameters": {}}}]
    _, lines = sse(url, {**BODY, "tools": tools})
    error = assert_error_ended(lines)
    assert error["code"] == "stream_not_resumed"
    assert "tool-call arguments were half sent" in error["message"]
    assert up["b"].calls == 0


def test_resume_with_the_rest_of_the_chain_down_is_an_error_event(up: Up, url: str) -> None:
    up["a"].script.append(cut(at=3))
    up["b"].chooser = lambda _: http(500)
    up["c"].chooser = lambda _: reset()
    _, lines = sse(url, BODY)
    error = assert_error_ended(lines)
    assert error["code"] == "stream_not_resumed"
    assert "no deployment could answer" in error["message"]
    assert text_of(lines) == "answer from"


def test_complete_stream_without_done_is_complete(up: Up, url: str) -> None:
    """finish_reason and the usage chunk came: the answer is whole, [DONE] or not."""
    up["a"].script.append(no_done())
    _, lines = sse(url, {**BODY, "stream_options": {"include_usage": True}})
    assert_complete(lines, "answer from a")
    usage = json.loads(lines[-3].removeprefix("data: "))["usage"]
    assert usage["completion_tokens"] == 3
    assert lines[-2].startswith(": x-llmtriage-cost=0.0000") and up["b"].calls == 0


def test_cut_after_the_role_chunk_falls_back_unseen(up: Up, url: str) -> None:
    """Only the role chunk had come: the client has seen nothing, so b answers alone."""
    up["a"].chooser = lambda _: cut(at=1)
    headers, lines = sse(url, BODY)
    assert_complete(lines, "answer from b")
    assert headers["x-llmtriage-fallbacks"] == "a=connection"
    roles = [line for line in lines if '"role"' in line]
    assert len(roles) == 1 and json.loads(lines[0].removeprefix("data: "))["model"] == "model-b"
