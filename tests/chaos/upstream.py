"""A fake OpenAI chat-completions server on raw asyncio whose every answer is scripted.

Raw sockets rather than a web framework, because the faults live below HTTP: a reset
before the status line, a server that never answers, a chunked body cut or stalled
midway. Each request takes the next `Act` from `script` (else `chooser(n)`, else a
normal answer); `calls` counts requests, `acts` what was done.

    ok()           a normal answer (JSON, or SSE ending in [DONE])
    http(s, ...)   status `s` with an OpenAI error body and headers (429 Retry-After, 5xx…)
    reset()        TCP reset after reading the request, before any byte of answer
    silent()       reads the request, never answers (until the client gives up)
    slow(d)        waits `d` s before the first token (a stream's headers go out at once)
    cut(n)         n stream chunks, then the connection closes mid-body
    stall(n)       n stream chunks, then nothing more
    malformed(n, k)  k events that are not JSON before chunk n
    (a whole answer: cut and stall stop halfway through the body, malformed sends a body
    that is not JSON, no_done a whole answer)
    no_done()      every chunk, then a clean end of body without `data: [DONE]`

A request whose last message is the assistant's (a continuation: the proxy resuming a
broken stream) is answered with the rest of this fake's reply after that prefix, as a
model continuing its own turn would, or with nothing when its reply does not start so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.wire import SSE_HEAD, Request, chunk, read_request, respond


@dataclass(frozen=True)
class Act:
    kind: str
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    at: int = 0
    count: int = 1


def ok(delay_s: float = 0.0) -> Act:
    return Act("ok", delay_s=delay_s)


def http(status: int, message: str = "", code: str | None = None, **headers: str) -> Act:
    body = {"error": {"message": message or f"upstream {status}", "type": "error", "code": code}}
    return Act(
        "status",
        status=status,
        body=body,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


def reset() -> Act:
    return Act("reset")


def silent() -> Act:
    return Act("silent")


def slow(delay_s: float) -> Act:
    return Act("ok", delay_s=delay_s)


def cut(at: int) -> Act:
    return Act("cut", at=at)


def stall(at: int) -> Act:
    return Act("stall", at=at)


def malformed(at: int = 0, count: int = 1) -> Act:
    return Act("malformed", at=at, count=count)


def no_done() -> Act:
    return Act("no_done")


class FakeUpstream:
    def __init__(self, name: str, *, latency_s: float = 0.0) -> None:
        self.name = name
        self.model = f"model-{name}"
        self.reply = f"answer from {name}"
        self.latency_s = latency_s  # every answer's own think time
        self.script: deque[Act] = deque()
        self.chooser: Callable[[int], Act] | None = None
        self.calls = 0
        self.acts: Counter[str] = Counter()
        self.received: list[dict[str, Any]] = []  # request bodies, in order
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: dict[str, Callable[[Act, Request], Awaitable[bool]]] = {
            "ok": self._ok,
            "status": self._status,
            "reset": self._reset,
            "silent": self._silent,
            "cut": self._stream_fault,
            "stall": self._stream_fault,
            "malformed": self._stream_fault,
            "no_done": self._stream_fault,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_state(self) -> None:
        self.script.clear()
        self.chooser = None
        self.calls = 0
        self.acts.clear()
        self.received.clear()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def _next(self) -> Act:
        n = self.calls
        self.calls += 1
        if self.script:
            return self.script.popleft()
        return self.chooser(n) if self.chooser is not None else ok()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader, writer)
                if request is None:
                    break
                if request == "stats":
                    respond(
                        writer,
                        200,
                        json.dumps({"calls": self.calls, "acts": dict(self.acts)}).encode(),
                    )
                    await writer.drain()
                    continue
                assert isinstance(request, Request)
                self.received.append(request.body)
                act = self._next()
                self.acts[act.kind] += 1
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if not await self._handlers[act.kind](act, request):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # -- acts: each returns whether the connection may serve another request --

    async def _ok(self, act: Act, request: Request) -> bool:
        if act.delay_s and not request.stream:
            await asyncio.sleep(act.delay_s)
        if not request.stream:
            respond(request.writer, 200, json.dumps(self._completion()).encode())
            await request.writer.drain()
            return True
        request.writer.write(SSE_HEAD)
        if act.delay_s:
            await request.writer.drain()
            await asyncio.sleep(act.delay_s)
        for event in self._events(request):
            request.writer.write(chunk(event))
        request.writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await request.writer.drain()
        return True

    async def _status(self, act: Act, request: Request) -> bool:
        respond(request.writer, act.status, json.dumps(act.body).encode(), act.headers)
        await request.writer.drain()
        return True

    async def _reset(self, act: Act, request: Request) -> bool:
        sock = request.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        request.writer.transport.abort()
        return False

    async def _silent(self, act: Act, request: Request) -> bool:
        await request.reader.read()  # until the client hangs up
        return False

    async def _stream_fault(self, act: Act, request: Request) -> bool:
        writer = request.writer
        if not request.stream:
            return await self._whole_fault(act, request)
        writer.write(SSE_HEAD)
        events = self._events(request)
        for i, event in enumerate(events):
            if i == act.at and act.kind in ("cut", "stall"):
                await writer.drain()
                if act.kind == "stall":
                    await request.reader.read()
                return False  # closes mid-body: no final chunk
            if i == act.at and act.kind == "malformed":
                writer.write(chunk(b'data: {"id": "chatcmpl-x", "choices": [\n\n') * act.count)
            writer.write(chunk(event))
        if act.kind != "no_done":
            writer.write(chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _whole_fault(self, act: Act, request: Request) -> bool:
        """The same faults on a whole answer: cut (the body stops short, the socket
        closes), stall (half the body, then nothing), malformed (not JSON); no_done has
        no meaning here, so the answer is whole."""
        writer, body = request.writer, json.dumps(self._completion()).encode()
        if act.kind == "no_done":
            respond(writer, 200, body)
        elif act.kind == "malformed":
            respond(writer, 200, b'{"id": "chatcmpl-x", "choices": [')
        else:
            head = (
                f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
            )
            writer.write(head.encode() + b"\r\n\r\n" + body[: len(body) // 2])
            await writer.drain()
            if act.kind == "stall":
                await request.reader.read()
            return False
        await writer.drain()
        return True

    def _completion(self) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        }

    def text_for(self, request: Request) -> str:
        """The reply, or for a continuation what is left of it after the prefix."""
        last = (request.body.get("messages") or [{}])[-1]
        if last.get("role") != "assistant":
            return self.reply
        prefix = str(last.get("content") or "")
        return self.reply[len(prefix) :] if self.reply.startswith(prefix) else ""

    def _events(self, request: Request) -> list[bytes]:
        base = {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
        }

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

        words = re.findall(r"\s*\S+", self.text_for(request))  # "a b" -> "a", " b"
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        finish = "stop"
        if request.body.get("tools"):  # one tool call, its arguments in three pieces
            call = {"index": 0, "id": "call_1", "type": "function"}
            deltas.append({"tool_calls": [{**call, "function": {"name": "find", "arguments": ""}}]})
            for piece in ('{"q"', ': "rivers', '"}'):
                deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish = "tool_calls"
        else:
            deltas += [{"content": w} for w in words]
        out = [event([{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        out.append(event([{"index": 0, "delta": {}, "finish_reason": finish}]))
        usage = {
            "prompt_tokens": 9,
            "completion_tokens": len(words),
            "total_tokens": 9 + len(words),
        }
        out.append(event([], usage=usage))
        return out


class UpstreamThread:
    """Runs fake upstreams on one event loop in a background thread."""

    def __init__(self, *fakes: FakeUpstream) -> None:
        self.fakes = fakes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> UpstreamThread:
        self._thread.start()
        for fake in self.fakes:
            asyncio.run_coroutine_threadsafe(fake.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            for fake in self.fakes:
                await fake.stop()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
