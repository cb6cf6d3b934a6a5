"""`/v1/score` latency with the decision cache: Redis hit, Redis miss, cache off, embedded.

Each variant is `llmtriage serve` (one uvicorn worker, the artifact at --model) under the
same open-loop load from `bench.loadgen`; Redis is a private `redis-server` on loopback
(or LLMTRIAGE_BENCH_REDIS_URL). Variants, each with short and with ~1k-token prompts:

    redis, cache off   redis_url set, cache_ttl_s=0: scoring + the write-behind stats only
    redis, hit         every prompt cached beforehand: one Redis GET replaces the scoring
    redis, miss        every prompt new: GET (miss) + scoring + SET
    memory, hit/miss   the embedded default (no Redis): the cache is a dict lookup

hit_pct is read back from /v1/stats, so a row says what it measured.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench.core import Context, SectionResult
from bench.http import _free_port, _loadgen, _measured, serve
from bench.prompts import long_prompts, short_prompts

REDIS_URL_ENV = "LLMTRIAGE_BENCH_REDIS_URL"
CONNECTIONS = 8
LOADGEN_STRIDE = 7919  # bench.loadgen starts connection k at prompt k * 7919 (mod len)
COLUMNS = [
    "variant",
    "prompts",
    "offered_rps",
    "achieved_rps",
    "p50_ms",
    "p99_ms",
    "service_p99_ms",
    "hit_pct",
    "server_cpu_pct",
    "non_200",
]


@dataclass(frozen=True)
class Workload:
    label: str
    rate: float
    hot: list[str]  # cached beforehand in the hit rows
    cold: list[str]  # never sent twice in a miss row


def cache_section(ctx: Context) -> SectionResult:
    result = SectionResult("HTTP POST /v1/score with the decision cache", COLUMNS)
    duration = 3.0 if ctx.quick else 6.0
    workloads = [_workload("short (~15 words)", 200.0, duration, short_prompts, "miss")]
    workloads.append(_workload("long (~1k tokens)", 40.0, duration, long_prompts, "miss"))
    with _redis() as redis_url:
        if redis_url is None:
            result.skipped = f"no redis-server on PATH and {REDIS_URL_ENV} unset"
            return result
        with _server(ctx, redis_url=redis_url, cache_ttl_s=0) as server:
            for w in workloads:
                result.rows.append(_run(ctx, server, "redis, cache off", w, w.hot, duration))
        with _server(ctx, redis_url=redis_url, cache_ttl_s=3600) as server:
            for w in workloads:
                _warm(server, w.hot)
                result.rows.append(_run(ctx, server, "redis, hit", w, w.hot, duration))
                result.rows.append(_run(ctx, server, "redis, miss", w, w.cold, duration))
    with _server(ctx, redis_url=None, cache_ttl_s=3600) as server:
        for w in workloads:
            _warm(server, w.hot)
            result.rows.append(_run(ctx, server, "memory, hit", w, w.hot, duration))
            result.rows.append(_run(ctx, server, "memory, miss", w, w.cold, duration))
    result.notes.append(
        f"Open loop for {duration:g} s per row over {CONNECTIONS} keep-alive connections; "
        "latency from each request's scheduled send. Redis is a local redis-server on "
        "loopback (no persistence) competing for the same cores as the service and the load "
        "generator, so absolute numbers move with the machine's load: compare rows of one run. "
        "A miss costs a GET and a SET on top of scoring; a hit replaces scoring with one GET."
    )
    return result


def _workload(
    label: str, rate: float, duration: float, make: Callable[..., list[str]], tag: str
) -> Workload:
    return Workload(
        label,
        rate,
        hot=make(200),
        cold=[f"{tag} {p}" for p in make(_distinct_count(int(rate * duration) + 1), seed=7)],
    )


def _distinct_count(requests: int) -> int:
    """How many prompts make a miss row repeat none: bench.loadgen's connections walk
    from offsets k * 7919 (mod the count), and any one of them may send every request."""
    n = CONNECTIONS * requests
    while True:
        starts = sorted(k * LOADGEN_STRIDE % n for k in range(CONNECTIONS))
        gaps = [b - a for a, b in zip(starts, [*starts[1:], starts[0] + n], strict=True)]
        if min(gaps) >= requests:
            return n
        n += 1


Server = tuple[int, int]  # (port, pid)


def _run(
    ctx: Context,
    server: Server,
    variant: str,
    workload: Workload,
    prompts: list[str],
    duration: float,
) -> dict[str, Any]:
    port, pid = server
    rate = workload.rate
    before = _cache_counts(port)
    run = _measured(pid, lambda: _loadgen(ctx, port, prompts, rate, duration, CONNECTIONS))
    hits, misses = (a - b for a, b in zip(_cache_counts(port), before, strict=True))
    non_200 = sum(v for k, v in run.get("statuses", {}).items() if k != "200")
    return {
        "variant": variant,
        "prompts": workload.label,
        "offered_rps": rate,
        "achieved_rps": run.get("achieved_rps"),
        "p50_ms": run.get("latency_p50_ms"),
        "p99_ms": run.get("latency_p99_ms"),
        "service_p99_ms": run.get("service_p99_ms"),
        "hit_pct": round(100 * hits / (hits + misses), 1) if hits + misses else None,
        "server_cpu_pct": run.get("server_cpu_pct"),
        "non_200": non_200 + run.get("errors", 0),
    }


def _cache_counts(port: int) -> tuple[int, int]:
    body = httpx.get(f"http://127.0.0.1:{port}/v1/stats", params={"window_s": 3600}).json()
    score = body["cache"]["paths"].get("score", {})
    return int(score.get("hits", 0)), int(score.get("misses", 0))


def _warm(server: Server, prompts: list[str]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server[0]}", timeout=10) as client:
        for prompt in prompts:
            client.post("/v1/score", json={"prompt": prompt}).raise_for_status()


@contextmanager
def _server(ctx: Context, *, redis_url: str | None, cache_ttl_s: float) -> Iterator[Server]:
    env = {
        "LLMTRIAGE_CACHE_TTL_S": str(cache_ttl_s),
        "LLMTRIAGE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}:",  # no hits from old runs
    }
    if redis_url is not None:
        env["LLMTRIAGE_REDIS_URL"] = redis_url
    with serve(ctx, env) as server:
        yield server


@contextmanager
def _redis() -> Iterator[str | None]:
    """LLMTRIAGE_BENCH_REDIS_URL, else a private redis-server, else None."""
    external = os.environ.get(REDIS_URL_ENV)
    binary = shutil.which("redis-server")
    if external or binary is None:
        yield external
        return
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", workdir]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            _wait_redis(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_redis(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING in 10 s")
