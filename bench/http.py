"""HTTP `/v1/score` latency under fixed offered load, and maximum throughput.

The server is `llmtriage serve` (one uvicorn worker, uvloop + httptools when
installed, access log off) on 127.0.0.1; the load generator runs in separate
process(es): `bench.loadgen`, or `wrk` for the closed-loop ceiling when present.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from bench.core import Context, SectionResult
from bench.prompts import short_prompts

RATES = (100, 500, 1000)
COLUMNS = [
    "load",
    "generator",
    "achieved_rps",
    "p50_ms",
    "p99_ms",
    "p99_9_ms",
    "service_p99_ms",
    "lag_p99_ms",
    "server_cpu_pct",
    "gen_cpu_pct",
    "non_200",
]


def http_section(ctx: Context) -> SectionResult:
    result = SectionResult("HTTP POST /v1/score, one uvicorn worker on 127.0.0.1", COLUMNS)
    duration = 3.0 if ctx.quick else 8.0
    prompts = short_prompts(500)
    # Decision cache off: 500 prompts cycle through every run, so with the cache on this
    # would measure cache hits, not scoring (the `cache` section measures the cache).
    started = time.perf_counter()
    with serve(ctx, {"LLMTRIAGE_CACHE_TTL_S": "0"}) as (port, pid):
        ready_s = time.perf_counter() - started
        result.notes.append(
            f"cold start (process spawn to /readyz 200, model loaded and self-tested): "
            f"{ready_s:.2f} s; resident memory when ready: {_rss_mb(pid):.0f} MB "
            "(targets ≤ 2 s, ≤ 250 MB)"
        )
        _loadgen(ctx, port, prompts, rate=0, duration=1.0, connections=16)  # warm-up
        for rate in RATES:
            run = _measured(pid, lambda r=rate: _loadgen(ctx, port, prompts, r, duration, 64))
            result.rows.append(_row(f"open {rate} rps", run, "bench.loadgen x1"))
        for procs, connections in ((1, 32), (2, 64)):
            run = _measured(
                pid, lambda p=procs, c=connections: _loadgen(ctx, port, prompts, 0, duration, c, p)
            )
            result.rows.append(_row(f"closed, {connections} conns", run, f"bench.loadgen x{procs}"))
        if shutil.which("wrk"):
            run = _measured(pid, lambda: _wrk(port, prompts, duration, connections=64))
            result.rows.append(_row("closed, 64 conns", run, "wrk -t1"))
        else:
            result.notes.append("wrk not installed: closed-loop ceiling from bench.loadgen only.")
    # the same 1,000 rps with a client key required and the per-key rate limiter on (set
    # high enough never to refuse: what is measured is the check's cost, not 429s)
    key = "bench-client-key"
    hardened = {
        "LLMTRIAGE_CACHE_TTL_S": "0",
        "LLMTRIAGE_CLIENT_KEY_HASHES": json.dumps([hashlib.sha256(key.encode()).hexdigest()]),
        "LLMTRIAGE_RATE_LIMIT_RPS": "1000000",
        "LLMTRIAGE_RATE_LIMIT_BURST": "1000000",
    }
    with serve(ctx, hardened) as (port, pid):
        auth = [f"Authorization: Bearer {key}"]
        _loadgen(ctx, port, prompts, rate=0, duration=1.0, connections=16, headers=auth)
        for rate in (RATES[-1],):
            run = _measured(
                pid, lambda r=rate: _loadgen(ctx, port, prompts, r, duration, 64, headers=auth)
            )
            result.rows.append(
                _row(f"open {rate} rps, client key + rate limit", run, "bench.loadgen x1")
            )
    result.notes.append(
        f"{duration:g} s per row, short prompts. Open loop: latency from each request's scheduled "
        "send time (no coordinated omission); service_p99 is from the actual send; lag_p99 is "
        "how late the generator itself dispatched. All processes share the machine's cores."
    )
    return result


def _row(load: str, run: dict[str, Any], generator: str) -> dict[str, Any]:
    non_200 = sum(v for k, v in run.get("statuses", {}).items() if k != "200") + run.get(
        "errors", 0
    )
    return {
        "load": load,
        "generator": generator,
        "achieved_rps": run.get("achieved_rps"),
        "p50_ms": run.get("latency_p50_ms"),
        "p99_ms": run.get("latency_p99_ms"),
        "p99_9_ms": run.get("latency_p99_9_ms"),
        "service_p99_ms": run.get("service_p99_ms"),
        "lag_p99_ms": run.get("dispatch_lag_p99_ms"),
        "server_cpu_pct": run.get("server_cpu_pct"),
        "gen_cpu_pct": run.get("generator_cpu_pct"),
        "non_200": non_200,
    }


def _measured(pid: int, fn: Any) -> dict[str, Any]:
    cpu0, wall0 = _proc_cpu_s(pid), time.perf_counter()
    run: dict[str, Any] = fn()
    run["server_cpu_pct"] = round(
        100 * (_proc_cpu_s(pid) - cpu0) / (time.perf_counter() - wall0), 1
    )
    return run


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadgen(
    ctx: Context,
    port: int,
    prompts: list[str],
    rate: float,
    duration: float,
    connections: int,
    procs: int = 1,
    headers: Sequence[str] = (),
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(prompts, fh)
    try:
        out = subprocess.run(
            [
                *(ctx.python, "-m", "bench.loadgen", "--url", f"http://127.0.0.1:{port}/v1/score"),
                *("--rate", str(rate), "--duration", str(duration)),
                *("--connections", str(connections), "--procs", str(procs)),
                *("--prompts-file", fh.name),
                *(arg for h in headers for arg in ("--header", h)),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(fh.name)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def _wrk(port: int, prompts: list[str], duration: float, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.jsonl"
        bodies.write_text("\n".join(json.dumps({"prompt": p}) for p in prompts) + "\n")
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % bodies)
        cpu0 = _children_cpu_s()
        wall0 = time.perf_counter()
        out = subprocess.run(
            [
                *("wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency"),
                *("-s", str(script), f"http://127.0.0.1:{port}"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 30,
        ).stdout
        gen_cpu = 100 * (_children_cpu_s() - cpu0) / (time.perf_counter() - wall0)
    return _parse_wrk(out) | {"generator_cpu_pct": round(gen_cpu, 1)}


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _parse_wrk(text: str) -> dict[str, Any]:
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    parsed: dict[str, Any] = {"statuses": {}}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            parsed["achieved_rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
            key = "latency_p50_ms" if parts[0] == "50%" else "latency_p99_ms"
            parsed[key] = round(float(value[: -len(unit)]) * units[unit], 3)
        elif line.strip().startswith("Non-2xx"):
            parsed["statuses"]["non-2xx"] = int(parts[-1])
    return parsed


def _rss_mb(pid: int) -> float:
    """VmRSS of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def serve(ctx: Context, env: Mapping[str, str]) -> Iterator[tuple[int, int]]:
    """`llmtriage serve` on a free port, with no LLMTRIAGE_* setting from this shell but
    those in `env`; yields (port, pid) once /readyz answers, and stops it after."""
    port = _free_port()
    command = [ctx.python, "-m", "llmtriage.cli", "serve", "--model", str(ctx.model)]
    command += ["--port", str(port), "--log-level", "warning"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRIAGE_")}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, env={**clean, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_ready(port, process, log)
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}: {log.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready in 60 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
