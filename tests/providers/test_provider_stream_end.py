"""When is a stream over? Raw SSE bytes from a loopback socket to both providers: a
finish_reason (and usage, when asked for) makes it whole with or without a terminator;
anything short of that is cut and raises, however the body ended."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from llmtriage.providers.anthropic import AnthropicProvider
from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import ProviderCallError, ProviderProtocolError, ProviderTimeout
from llmtriage.providers.openai_compat import OpenAICompatProvider
from llmtriage.providers.types import ChatChunk, ChatRequest
from tests.chaos.wire import SSE_HEAD, chunk

TIMEOUTS = Timeouts(connect=1, read=5, total=10)
Provider = OpenAICompatProvider | AnthropicProvider


def openai_event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices}
    return b"data: " + json.dumps({**body, **extra}).encode() + b"\n\n"


def delta(content: str) -> bytes:
    return openai_event([{"index": 0, "delta": {"content": content}, "finish_reason": None}])


ROLE = openai_event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
FINISH = openai_event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
USAGE = openai_event([], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
DONE = b"data: [DONE]\n\n"


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


ANTHROPIC_HEAD = [
    anthropic_event(
        "message_start",
        {"message": {"id": "m1", "model": "claude", "usage": {"input_tokens": 4}}},
    ),
    anthropic_event("content_block_start", {"index": 0, "content_block": {"type": "text"}}),
    anthropic_event(
        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    ),
]
ANTHROPIC_DELTA = anthropic_event(
    "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}
)


@asynccontextmanager
async def upstream(events: list[bytes], ending: str) -> AsyncIterator[str]:
    """Serves `events` as one chunked SSE body, then `ending`: "clean" (the terminating
    chunk), "close" (the socket closes mid-body) or "stall" (nothing more, socket open)."""

    tasks: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(SSE_HEAD + b"".join(chunk(e) for e in events))
            if ending == "clean":
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            if ending == "stall":
                await asyncio.sleep(30)
            elif ending == "clean":
                await reader.read()  # a kept-alive connection: until the client hangs up
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def openai(url: str, client: httpx.AsyncClient) -> Provider:
    endpoint = Endpoint(deployment="d", model="m", base_url=url + "/v1")
    return OpenAICompatProvider(endpoint, client=client)


def anthropic(url: str, client: httpx.AsyncClient) -> Provider:
    return AnthropicProvider(Endpoint(deployment="d", model="m", base_url=url), client=client)


def ask(*, usage: bool) -> ChatRequest:
    body: dict[str, Any] = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    if usage:
        body["stream_options"] = {"include_usage": True}
    return ChatRequest.model_validate({**body, "stream": True})


async def read_all(
    build: Callable[[str, httpx.AsyncClient], Provider],
    events: list[bytes],
    ending: str,
    *,
    usage: bool = True,
) -> list[ChatChunk]:
    async with upstream(events, ending) as url, httpx.AsyncClient() as client:
        return [c async for c in build(url, client).stream(ask(usage=usage), timeout=TIMEOUTS)]


def text(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0]["delta"].get("content") or "" for c in chunks if c.choices)


@pytest.mark.parametrize("ending", ["clean", "close"])
async def test_finish_and_usage_without_done_is_complete(ending: str) -> None:
    chunks = await read_all(openai, [ROLE, delta("Hi"), delta(" there"), FINISH, USAGE], ending)
    assert text(chunks) == "Hi there"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5


async def test_a_stall_after_the_usage_chunk_does_not_hold_the_answer() -> None:
    start = time.monotonic()
    chunks = await read_all(openai, [ROLE, delta("Hi"), FINISH, USAGE], "stall")
    assert text(chunks) == "Hi" and chunks[-1].usage is not None
    assert time.monotonic() - start < 2.5  # the drain gives up after 1 s, not at `total`


@pytest.mark.parametrize("ending", ["clean", "close", "stall"])
async def test_content_without_a_finish_reason_is_cut(ending: str) -> None:
    timeouts = Timeouts(connect=1, read=5, total=0.8)
    seen: list[ChatChunk] = []
    async with (
        upstream([ROLE, delta("Hi"), delta(" the")], ending) as url,
        httpx.AsyncClient() as client,
    ):
        stream = openai(url, client).stream(ask(usage=False), timeout=timeouts)
        with pytest.raises(ProviderCallError) as info:
            async for c in stream:
                seen.append(c)
    assert text(seen) == "Hi the"  # what came is passed on; the end is an error
    if ending == "clean":
        assert isinstance(info.value, ProviderProtocolError)
        assert "before its finish_reason" in str(info.value)


async def test_usage_asked_for_but_missing_is_cut() -> None:
    with pytest.raises(ProviderProtocolError, match="before its usage chunk"):
        await read_all(openai, [ROLE, delta("Hi"), FINISH], "clean", usage=True)


async def test_usage_not_asked_for_a_finish_reason_is_enough() -> None:
    chunks = await read_all(openai, [ROLE, delta("Hi"), FINISH], "clean", usage=False)
    assert text(chunks) == "Hi" and chunks[-1].choices[0]["finish_reason"] == "stop"


async def test_done_still_ends_a_stream() -> None:
    chunks = await read_all(openai, [ROLE, delta("Hi"), FINISH, USAGE, DONE], "clean")
    assert text(chunks) == "Hi"


@pytest.mark.parametrize("ending", ["clean", "close"])
async def test_anthropic_message_delta_without_message_stop_is_complete(ending: str) -> None:
    chunks = await read_all(anthropic, [*ANTHROPIC_HEAD, ANTHROPIC_DELTA], ending)
    assert text(chunks) == "Hi"
    assert chunks[-2].choices[0]["finish_reason"] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4, 1)


async def test_anthropic_without_a_stop_reason_is_cut() -> None:
    with pytest.raises(ProviderProtocolError, match="before its finish_reason"):
        await read_all(anthropic, ANTHROPIC_HEAD, "clean")


async def test_a_stall_mid_stream_is_detected_within_idle() -> None:
    timeouts = Timeouts(connect=1, read=20, total=20, idle=0.3)
    seen: list[ChatChunk] = []
    start = time.monotonic()
    async with upstream([ROLE, delta("Hi")], "stall") as url, httpx.AsyncClient() as client:
        with pytest.raises(ProviderTimeout, match=r"stalled: no chunk for 0\.3 s"):
            async for c in openai(url, client).stream(ask(usage=False), timeout=timeouts):
                seen.append(c)
    assert 0.25 < time.monotonic() - start < 1.5 and text(seen) == "Hi"


async def test_a_slow_consumer_is_not_a_stalled_upstream() -> None:
    """Idle counts from when the caller asks for the next chunk, not from the last one."""
    timeouts = Timeouts(connect=1, read=20, total=20, idle=0.2)
    events = [ROLE, delta("Hi"), delta(" there"), FINISH, USAGE, DONE]
    async with upstream(events, "clean") as url, httpx.AsyncClient() as client:
        seen = []
        async for c in openai(url, client).stream(ask(usage=False), timeout=timeouts):
            seen.append(c)
            await asyncio.sleep(0.3)
    assert text(seen) == "Hi there"


GARBAGE = b'data: {"id": "c1", "choices": [\n\n'


@pytest.mark.parametrize("build", [openai, anthropic], ids=["openai", "anthropic"])
async def test_a_malformed_event_is_skipped_and_reported(
    build: Callable[[str, httpx.AsyncClient], Provider],
) -> None:
    good = (
        [ROLE, delta("Hi"), FINISH, USAGE]
        if build is openai
        else [*ANTHROPIC_HEAD, ANTHROPIC_DELTA]
    )
    reported: list[str] = []
    async with upstream([good[0], GARBAGE, *good[1:]], "clean") as url, httpx.AsyncClient() as c:
        provider = build(url, c)
        provider.endpoint = dataclasses.replace(provider.endpoint, on_malformed=reported.append)
        chunks = [x async for x in provider.stream(ask(usage=True), timeout=TIMEOUTS)]
    assert text(chunks) == "Hi" and reported == ["d"]


async def test_past_the_limit_a_malformed_event_breaks_the_stream() -> None:
    events = [ROLE, GARBAGE, delta("Hi"), GARBAGE, FINISH, USAGE]
    async with upstream(events, "clean") as url, httpx.AsyncClient() as client:
        provider = openai(url, client)
        provider.endpoint = dataclasses.replace(provider.endpoint, max_malformed_chunks=1)
        with pytest.raises(ProviderProtocolError, match="2 malformed chunks in one stream"):
            [x async for x in provider.stream(ask(usage=True), timeout=TIMEOUTS)]
