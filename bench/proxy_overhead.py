"""Proxy overhead: latency through the proxy minus latency calling the upstream directly.

Three processes, so that none steals the others' event loop:

    this process   open-loop load generator (requests start on a fixed schedule,
                   whether or not earlier ones finished; latency is measured from
                   the scheduled start, so a stall is not hidden)
    upstream       a fake OpenAI chat-completions endpoint that answers at once
    proxy          the whole llmtriage service as `llmtriage serve` builds it
                   (uvicorn, uvloop, httptools; middleware, metrics, telemetry),
                   routing `model: auto` with the classifier to that upstream; the
                   decision cache is off, so every request is scored

The same load runs first against the upstream directly, then through the proxy;
overhead is the difference of the percentiles. Target: p50 ≤ 2 ms, p99 ≤ 10 ms.

    python -m bench.proxy_overhead [--rate 200] [--duration 10] [--model DIR]
                                   [--transport lean|httpx] [--json]

`--transport` is the proxy's `upstream.transport`: the lean HTTP/1.1 transport (the
default) or httpx's own; `make bench` runs both side by side.

The load generator is bench/loadgen.py's raw-asyncio HTTP/1.1 client (32 keep-alive
connections), so client overhead is small and identical for both targets.

Without --model the classifier is the tiny hashing-embedder test artifact, which
scores in microseconds; pass a trained artifact to include its embedder's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvloop

from bench.core import Context, SectionResult
from bench.loadgen import build_requests, generate
from bench.prompts import short_prompts

REPO = Path(__file__).resolve().parent.parent
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
UPSTREAM_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
    }
).encode()

CONFIG = """\
tiers:
  - name: cheap
    deployments:
      - {{name: mini, provider: openai, model: bench-mini, base_url: "{upstream}/v1",
          input_price_per_mtok: 0.15, output_price_per_mtok: 0.6, context_window: 128000}}
  - name: strong
    deployments:
      - {{name: big, provider: openai, model: bench-big, base_url: "{upstream}/v1",
          input_price_per_mtok: 3, output_price_per_mtok: 15, context_window: 128000}}
rules:
  - {{id: free, match: {{headers: {{x-user-tier: free}}}}, action: forbid_tiers, tiers: [strong]}}
  - {{id: tools, match: {{has_tools: true}}, action: route_to_tier, tier: strong}}
upstream: {{transport: {transport}}}
"""
TRANSPORTS = ("lean", "httpx")  # upstream.transport: the default first

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


# ---- child processes -----------------------------------------------------------------


async def _upstream_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """A raw ASGI app: the cheapest possible instant answer."""
    more = True
    while more:
        more = bool((await receive()).get("more_body"))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(UPSTREAM_BODY)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": UPSTREAM_BODY})


def _serve(app: Any, *, lifespan: str) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"READY {sock.getsockname()[1]}", flush=True)
        await task

    uvloop.run(serve())


BENCH_KEY = "bench-client-key"


def _proxy_app(
    upstream: str, model_dir: str | None, *, auth: bool = False, transport: str = "lean"
) -> Any:
    """The service `llmtriage serve` runs (create_service: guard and metrics middleware,
    telemetry, /v1/stats aggregates, the GC frozen after start-up), with the decision
    cache off so that every request is scored and routed afresh."""
    from llmtriage.server.app import create_service
    from llmtriage.server.settings import ServeSettings

    folder = Path(tempfile.mkdtemp(prefix="llmtriage-bench-"))
    config = folder / "bench-routing.yaml"
    config.write_text(CONFIG.format(upstream=upstream, transport=transport))
    # auth: a client key required and the per-key rate limiter on, set high enough never
    # to refuse (what is measured is the check, not 429s)
    hardening: dict[str, Any] = (
        {
            "client_key_hashes": [hashlib.sha256(BENCH_KEY.encode()).hexdigest()],
            "rate_limit_rps": 1_000_000,
            "rate_limit_burst": 1_000_000,
        }
        if auth
        else {}
    )
    settings = ServeSettings(
        model=Path(model_dir) if model_dir else _tiny_artifact(),
        routing_config=config,
        cache_ttl_s=0,
        gc_freeze=True,
        **hardening,
    )
    return create_service(settings, env={})


def _tiny_artifact() -> Path:
    from tests.artifacts import make_tiny_artifact

    return make_tiny_artifact(Path(tempfile.mkdtemp(prefix="llmtriage-bench-")) / "tiny")


# ---- load generator ------------------------------------------------------------------


def _spawn(*args: str, module: str = "bench.proxy_overhead") -> tuple[subprocess.Popen[str], int]:
    """`python -m module args...`, once it prints `READY <port>`."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        process.wait()
        raise RuntimeError(f"{args[0]} process did not start: {line!r}")
    return process, int(line.split()[1])


async def _load(port: int, requests: list[bytes], rate: float, duration_s: float) -> dict[str, Any]:
    samples = await generate(
        "127.0.0.1", port, requests, rate=rate, duration=duration_s, connections=32
    )
    latency = sorted(samples.latency)
    if not latency:
        raise RuntimeError(f"no successful request on port {port} ({samples.errors} errors)")
    ok = samples.statuses.get(200, 0)
    return {
        "requests": len(latency),
        "non_200": len(latency) - ok,
        "errors": samples.errors,
        "p50_ms": _percentile(latency, 0.50),
        "p99_ms": _percentile(latency, 0.99),
        "dispatch_lag_p99_ms": _percentile(sorted(samples.lag), 0.99),
    }


def _percentile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index] * 1000.0, 3)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(
    upstream: int, proxy: int, rate: float, duration_s: float, proxy_pid: int, auth: bool
) -> dict[str, Any]:
    bodies = [
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": p}]}).encode()
        for p in short_prompts(200)
    ]
    targets = {"direct": upstream, "proxy": proxy}
    key_header = [f"Authorization: Bearer {BENCH_KEY}"] if auth else []
    requests = {
        name: build_requests(
            f"127.0.0.1:{port}",
            "/v1/chat/completions",
            bodies,
            key_header if name == "proxy" else [],
        )
        for name, port in targets.items()
    }
    for name, port in targets.items():  # warm pools, caches and the allocator
        await _load(port, requests[name], rate, 1.0)
    results: dict[str, Any] = {"rate": rate, "duration_s": duration_s}
    for name, port in targets.items():
        cpu_before = _cpu_seconds(proxy_pid)
        for key, value in (await _load(port, requests[name], rate, duration_s)).items():
            results[f"{name}_{key}"] = value
        cpu_after = _cpu_seconds(proxy_pid)
        if name == "proxy" and cpu_before is not None and cpu_after is not None:
            # The proxy's own CPU per request: robust where wall-clock latency is not
            # (a shared or busy machine inflates latencies, much less CPU time).
            per_request = (cpu_after - cpu_before) / max(results["proxy_requests"], 1)
            results["proxy_cpu_ms_per_request"] = round(per_request * 1000, 3)
    results["overhead_p50_ms"] = round(results["proxy_p50_ms"] - results["direct_p50_ms"], 3)
    results["overhead_p99_ms"] = round(results["proxy_p99_ms"] - results["direct_p99_ms"], 3)
    results["target_p50_ms"], results["target_p99_ms"] = TARGET_P50_MS, TARGET_P99_MS
    results["meets_target"] = (
        results["overhead_p50_ms"] <= TARGET_P50_MS and results["overhead_p99_ms"] <= TARGET_P99_MS
    )
    return results


def run_proxy_overhead(
    rate: float = 200,
    duration_s: float = 10.0,
    *,
    model_dir: str | Path | None = None,
    auth: bool = False,
    transport: str = "lean",
) -> dict[str, Any]:
    """Start upstream and proxy processes, load both, and return the latency figures (ms)."""
    upstream_process, upstream = _spawn("upstream")
    try:
        proxy_args = ["proxy", "--upstream", f"http://127.0.0.1:{upstream}"]
        proxy_args += ["--transport", transport]
        proxy_args += ["--model", str(Path(model_dir).resolve())] if model_dir else []
        proxy_args += ["--auth"] if auth else []
        proxy_process, proxy = _spawn(*proxy_args)
        try:
            figures = uvloop.run(
                _measure(upstream, proxy, rate, duration_s, proxy_process.pid, auth)
            )
            return figures | {"transport": transport}
        finally:
            proxy_process.terminate()
            proxy_process.wait(timeout=10)
    finally:
        upstream_process.terminate()
        upstream_process.wait(timeout=10)


def _print(results: dict[str, Any]) -> None:
    print(
        f"proxy overhead at {results['rate']:.0f} req/s open-loop for {results['duration_s']:.0f} s"
        f" (upstream.transport: {results['transport']})"
    )
    for name in ("direct", "proxy"):
        print(
            f"  {name:<7} p50 {results[f'{name}_p50_ms']:7.2f} ms"
            f"   p99 {results[f'{name}_p99_ms']:7.2f} ms"
            f"   ({results[f'{name}_requests']} answered, {results[f'{name}_errors']} errors)"
        )
    if "proxy_cpu_ms_per_request" in results:
        print(f"  proxy CPU per request {results['proxy_cpu_ms_per_request']:.3f} ms")
    print(
        f"  overhead p50 {results['overhead_p50_ms']:6.2f} ms (target ≤ {TARGET_P50_MS})"
        f"   p99 {results['overhead_p99_ms']:6.2f} ms (target ≤ {TARGET_P99_MS})"
        f"   {'OK' if results['meets_target'] else 'MISSED'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "upstream", "proxy"])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--model", default=None, help="classifier artifact folder (default: tiny test artifact)"
    )
    parser.add_argument("--upstream", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--auth", action="store_true", help="client key required, per-key rate limiter on"
    )
    parser.add_argument(
        "--transport", choices=TRANSPORTS, default="lean", help="the proxy's upstream.transport"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.role == "upstream":
        _serve(_upstream_app, lifespan="off")
    elif args.role == "proxy":
        app = _proxy_app(args.upstream, args.model, auth=args.auth, transport=args.transport)
        _serve(app, lifespan="on")
    else:
        results = run_proxy_overhead(
            args.rate, args.duration, model_dir=args.model, auth=args.auth, transport=args.transport
        )
        print(json.dumps(results, indent=2)) if args.json else _print(results)


if __name__ == "__main__":
    main()


def proxy_overhead_section(ctx: Context) -> SectionResult:
    """`make bench` section: overhead at 200 req/s (and 100 req/s, to show it unloaded),
    over each upstream transport side by side; with a client key on the default one."""
    result = SectionResult(
        "Proxy overhead: /v1/chat/completions through the router vs the fake provider directly",
        [
            "rate_rps", "transport", "auth", "direct_p50_ms", "direct_p99_ms", "proxy_p50_ms",
            "proxy_p99_ms", "overhead_p50_ms", "overhead_p99_ms", "proxy_cpu_ms_per_request",
            "meets_target",
        ],
    )  # fmt: skip
    duration = 4.0 if ctx.quick else 10.0
    runs = [(rate, transport, False) for rate in (100.0, 200.0) for transport in TRANSPORTS]
    for rate, transport, auth in [*runs, (200.0, TRANSPORTS[0], True)]:
        figures = run_proxy_overhead(
            rate, duration, model_dir=ctx.model, auth=auth, transport=transport
        )
        row = {k: figures.get(k) for k in result.columns} | {"rate_rps": rate}
        result.rows.append(row | {"auth": "client key + rate limit" if auth else "off"})
    result.notes.append(
        f"classifier {ctx.model}; fake OpenAI provider answering at once in its own process; "
        f"load generator in a third process; transport: the proxy's upstream.transport (lean: "
        f"llmtriage's HTTP/1.1 transport, the default; httpx: httpx's own), each row a fresh "
        f"pair of processes; targets: overhead p50 ≤ {TARGET_P50_MS} ms, "
        f"p99 ≤ {TARGET_P99_MS} ms at 200 req/s"
    )
    return result
