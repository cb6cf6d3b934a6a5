"""Open-loop load for the long chaos run, on raw asyncio sockets, run as its own process.

Request i is due at start + i/rate whatever happened before (latency counts from that
due time, so a stall is charged to every request it delayed). Every answer is read in
full and judged:

    complete   200 with the whole answer of one deployment ("answer from X", model-X;
               a stream: every chunk, then [DONE], no error event; a resumed stream:
               the part X continued reads as X's answer, the trailer names X)
    chain_503  503 whose error lists the attempts (the whole chain was down)
    bad        anything else: another status, a cut or malformed answer, an error event
    hung       no full answer within `timeout_s`
    refused    the connection failed

    python -m tests.chaos.loadgen --port P --rate 200 --count 10000 --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

PROMPT = "Name three rivers in Europe and one fact about each."


@dataclass
class Outcome:
    index: int
    due_s: float  # offset from the run's start
    latency_ms: float
    verdict: str
    served: str = ""
    stream: bool = False
    detail: str = ""
    resumed: bool = False  # a stream that broke midway and was continued elsewhere


def build(host: str, path: str, stream: bool) -> bytes:
    body = json.dumps(
        {"model": "cheap", "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    body = bytearray()
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, headers, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def judge(
    status: int, headers: dict[str, str], body: bytes, stream: bool
) -> tuple[str, str, str, bool]:
    """(verdict, served model, detail, resumed)."""
    try:
        if status == 503:
            error = json.loads(body)["error"]
            if error.get("attempts"):
                return "chain_503", "", error["message"][:200], False
            return "bad", "", "503 without attempts", False
        if status != 200:
            return "bad", "", f"status {status}: {body[:200]!r}", False
        text, model, first = _stream_text(body) if stream else (*_whole_text(body), "")
        started = headers.get("x-llmtriage-model") or first or model  # no proxy: no header
        first = first or model
        name = model.removeprefix("model-")
        if text != f"answer from {name}" or first != started:
            # "incomplete" marks a cut answer that was presented as a success
            detail = f"incomplete: {text!r} from {model} (started by {first}, header {started})"
            return "bad", model, detail, False
        return "complete", model, "", model != started
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return "bad", "", f"{type(exc).__name__}: {exc}; {body[-200:]!r}", False


def _whole_text(body: bytes) -> tuple[str, str]:
    answer = json.loads(body)
    return answer["choices"][0]["message"]["content"], answer["model"]


def _stream_text(body: bytes) -> tuple[str, str, str]:
    """(text, the model that finished it, the model that started it)."""
    lines = [line for line in body.decode().split("\n") if line]
    data = [line for line in lines if line.startswith("data: ")]
    if not data or data[-1] != "data: [DONE]":
        raise ValueError("no [DONE]")
    trailer = dict(
        line.removeprefix(": ").partition("=")[::2] for line in lines if line.startswith(": ")
    )
    parts, models = [], []
    for line in data[:-1]:
        chunk = json.loads(line.removeprefix("data: "))
        if "error" in chunk:
            raise ValueError(f"error event: {chunk['error']}")
        if not models or models[-1] != chunk["model"]:
            models.append(chunk["model"])
        parts += [c["delta"].get("content") or "" for c in chunk["choices"]]
    finished = trailer.get("x-llmtriage-model", models[0])
    if len(models) > 2 or models[-1] != finished:
        raise ValueError(f"chunks from {models}, trailer {trailer}")
    return "".join(parts), finished, models[0]


async def worker(
    host: str,
    port: int,
    path: str,
    jobs: asyncio.Queue[tuple[int, float, bool] | None],
    start: float,
    stop_at: float,
    timeout_s: float,
    out: list[Outcome],
) -> None:
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while (job := await jobs.get()) is not None:
        index, due, stream = job
        if not due:  # closed loop: latency from the actual send, until the time limit
            due = time.perf_counter()
            if due > stop_at:
                continue
        verdict, served, detail, resumed = "refused", "", "", False
        try:
            async with asyncio.timeout(timeout_s):
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                reader, writer = conn
                writer.write(build(host, path, stream))
                status, headers, body = await read_response(reader)
            verdict, served, detail, resumed = judge(status, headers, body, stream)
            if headers.get("connection") == "close":
                writer.close()
                conn = None
        except TimeoutError:
            verdict, detail = "hung", f"no answer within {timeout_s} s"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
        if verdict in ("hung", "refused") and conn is not None:
            conn[1].close()
            conn = None
        latency = (time.perf_counter() - due) * 1000
        out.append(Outcome(index, due - start, latency, verdict, served, stream, detail, resumed))
    if conn is not None:
        conn[1].close()


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    jobs: asyncio.Queue[tuple[int, float, bool] | None] = asyncio.Queue()
    out: list[Outcome] = []
    start = time.perf_counter() + 0.1
    stop_at = start + args.time_limit_s
    workers = [
        asyncio.create_task(
            worker(args.host, args.port, args.path, jobs, start, stop_at, args.timeout_s, out)
        )
        for _ in range(args.connections)
    ]
    sent, lags = 0, []
    for i in range(args.count):
        if args.rate <= 0:  # closed loop: queue everything, each worker sends when free
            jobs.put_nowait((i, 0.0, rng.random() < args.stream_share))
            sent += 1
            continue
        due = start + i / args.rate
        if due > stop_at:
            break
        while (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        lags.append(time.perf_counter() - due)
        jobs.put_nowait((i, due, rng.random() < args.stream_share))
        sent += 1
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    wall = time.perf_counter() - start
    lags.sort()
    return {
        "rate": args.rate,
        "sent": sent if args.rate > 0 else len(out),
        "wall_s": wall,
        "dispatch_lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] * 1000 if lags else 0.0,
        "outcomes": [asdict(o) for o in sorted(out, key=lambda o: o.index)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stream-share", type=float, default=0.25)
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--time-limit-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(generate(args))
    except ImportError:
        result = asyncio.run(generate(args))
    with open(args.out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
