"""HTTP/1.1 keep-alive load generator on raw asyncio streams, run in its own process(es).

Open loop (`--rate`): request i is *scheduled* at start + i/rate whatever the
server does; latency is measured from that scheduled time, so a stalled server
is charged for every request it delayed (no coordinated omission). The time
from actual send is reported too (`service_*`: it excludes waiting for a free
connection), and so is how late the generator's scheduler released each request
(`dispatch_lag_*`), the generator's own error bar.

Closed loop (`--rate 0`): each connection sends its next request as soon as the
previous answer arrives; this measures maximum throughput.

Prints one JSON object. `--procs N` splits the work over N processes (rate and
connections divided) when one Python process cannot generate enough load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPIN_BELOW_S = 0.002  # sleep timers have ~1 ms granularity; spin for the last 2 ms


@dataclass
class Samples:
    latency: list[float] = field(default_factory=list)  # from scheduled send (open) / send (closed)
    service: list[float] = field(default_factory=list)  # from actual send
    lag: list[float] = field(default_factory=list)  # dispatcher lateness: enqueued - scheduled
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def build_requests(
    host: str, path: str, bodies: list[bytes], headers: Sequence[str] = ()
) -> list[bytes]:
    """Raw HTTP/1.1 requests; `headers`: extra "Name: value" lines (e.g. a client key)."""
    extra = "".join(f"{h}\r\n" for h in headers)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        raise ValueError("response without Content-Length")
    end = lower.find(b"\r\n", at)
    await reader.readexactly(int(lower[at + 15 : end]))
    return status


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    jobs: asyncio.Queue[float | None] | None,
    deadline: float,
    out: Samples,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while True:
            if jobs is not None:
                scheduled = await jobs.get()
                if scheduled is None:
                    return
            else:
                scheduled = time.perf_counter()
                if scheduled >= deadline:
                    return
            sent = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            try:
                status = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                out.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            done = time.perf_counter()
            out.latency.append(done - scheduled)
            out.service.append(done - sent)
            out.statuses[status] = out.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _dispatch(
    jobs: asyncio.Queue[float | None], rate: float, start: float, n: int, out: Samples
) -> None:
    for i in range(n):
        due = start + i / rate
        while (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead - SPIN_BELOW_S if ahead > SPIN_BELOW_S else 0)
        jobs.put_nowait(due)
        out.lag.append(time.perf_counter() - due)


async def generate(
    host: str, port: int, requests: list[bytes], *, rate: float, duration: float, connections: int
) -> Samples:
    out = Samples()
    start = time.perf_counter() + 0.05  # let the connections open first
    deadline = start + duration
    jobs: asyncio.Queue[float | None] | None = asyncio.Queue() if rate > 0 else None
    workers = [
        asyncio.create_task(_connection(host, port, requests, k * 7919, jobs, deadline, out))
        for k in range(connections)
    ]
    if jobs is not None:
        await _dispatch(jobs, rate, start, int(rate * duration), out)
        for _ in workers:
            jobs.put_nowait(None)
    await asyncio.gather(*workers)
    return out


def _run_one(args: dict[str, Any]) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    bodies = [json.dumps({"prompt": p}).encode() for p in args["prompts"]]
    requests = build_requests(args["host"], args["path"], bodies, args.get("headers", ()))
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    samples = asyncio.run(
        generate(
            args["host"],
            args["port"],
            requests,
            rate=args["rate"],
            duration=args["duration"],
            connections=args["connections"],
        )
    )
    wall = time.perf_counter() - wall0
    return {
        "latency": samples.latency,
        "service": samples.service,
        "lag": samples.lag,
        "statuses": samples.statuses,
        "errors": samples.errors,
        "wall_s": wall,
        "cpu_s": _cpu_seconds() - cpu0,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    *,
    host: str,
    port: int,
    prompts: list[str],
    rate: float,
    duration: float,
    connections: int,
    procs: int = 1,
    path: str = "/v1/score",
    headers: Sequence[str] = (),
) -> dict[str, Any]:
    """Generate load (in `procs` processes) and summarise; rate 0 means closed loop."""
    base = {
        "host": host,
        "port": port,
        "path": path,
        "prompts": prompts,
        "duration": duration,
        "headers": list(headers),
    }
    shares = [
        {**base, "rate": rate / procs, "connections": max(1, connections // procs)}
        for _ in range(procs)
    ]
    if procs == 1:
        parts = [_run_one(shares[0])]
    else:
        with mp.get_context("spawn").Pool(procs) as pool:
            parts = pool.map(_run_one, shares)
    return summarise(parts, rate=rate, duration=duration, connections=connections, procs=procs)


def summarise(
    parts: list[dict[str, Any]], *, rate: float, duration: float, connections: int, procs: int
) -> dict[str, Any]:
    latency = np.concatenate([np.asarray(p["latency"]) for p in parts]) * 1e3
    service = np.concatenate([np.asarray(p["service"]) for p in parts]) * 1e3
    lag = np.concatenate([np.asarray(p["lag"]) for p in parts]) * 1e3
    statuses: dict[str, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    wall = max(p["wall_s"] for p in parts)
    ok = statuses.get("200", 0)
    summary: dict[str, Any] = {
        "mode": "open" if rate > 0 else "closed",
        "offered_rps": rate,
        "duration_s": duration,
        "connections": connections,
        "procs": procs,
        "requests": int(latency.size),
        # Over the whole run including the drain: a server that falls behind shows here.
        "achieved_rps": round(ok / wall, 1),
        "statuses": statuses,
        "errors": sum(p["errors"] for p in parts),
        "generator_cpu_pct": round(100 * sum(p["cpu_s"] for p in parts) / wall, 1),
    }
    for name, values in (("latency", latency), ("service", service), ("dispatch_lag", lag)):
        for q in (50, 99, 99.9):
            key = f"{name}_p{q:g}_ms".replace(".", "_")
            summary[key] = round(float(np.percentile(values, q)), 3) if values.size else None
    summary["latency_max_ms"] = round(float(latency.max()), 3) if latency.size else None
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8080/v1/score")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument(
        "--prompts-file", help="JSON list of prompts (default: built-in short prompts)"
    )
    parser.add_argument(
        "--header", action="append", default=[], help="extra 'Name: value' request header"
    )
    args = parser.parse_args(argv)
    from urllib.parse import urlsplit

    from bench.prompts import short_prompts

    url = urlsplit(args.url)
    prompts = (
        json.loads(Path(args.prompts_file).read_text()) if args.prompts_file else short_prompts(200)
    )
    result = run(
        host=url.hostname or "127.0.0.1",
        port=url.port or 80,
        path=url.path or "/v1/score",
        prompts=prompts,
        rate=args.rate,
        duration=args.duration,
        connections=args.connections,
        procs=args.procs,
        headers=args.header,
    )
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
