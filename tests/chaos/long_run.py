"""The long chaos run: thousands of requests through a failing 3-deployment chain.

    primary   fails `failure_rate` of its calls in mixed ways (upstream_main.FAILURES:
              every fault of the fake, mid-stream ones included)
    second    down: nothing listens on its port
    healthy   answers everything after `latency_ms`

Processes: the upstreams, the proxy (breakers in Redis behind a FailOpenStore) and the
open-loop load generator each run apart, so none steals another's event loop; this
process only orchestrates, and kills and restarts Redis mid-run. Each session measures
the healthy deployment alone at the same rate (the baseline), then the proxy's
closed-loop capacity, then the run itself; when the offered rate proves more than the
box sustains (it fell behind, or its latency kept growing), a second session runs at
`lower_share` of the measured capacity.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.redis_server import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plan:
    rate: float = 200.0
    count: int = 10_000
    baseline_s: float = 10.0  # the healthy deployment alone, at the run's rate
    capacity_probe_s: float = 5.0  # closed loop, 4 connections, through the proxy
    lower_share: float = 0.6  # of that capacity, for the second run when the first lagged
    failure_rate: float = 0.3
    latency_ms: float = 5.0
    stream_share: float = 0.25
    warmup_s: float = 2.0  # breakers open within the first ~0.1 s; 2 s leaves margin
    redis_kill_at: float = 0.4  # fractions of the run's planned duration
    redis_restart_at: float = 0.6


def chain_config(primary: int, down: int, healthy: int) -> dict[str, Any]:
    def deployment(name: str, port: int) -> dict[str, Any]:
        return {
            "name": name,
            "provider": "openai",
            "model": f"model-{name}",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "input_price_per_mtok": 1,
            "output_price_per_mtok": 2,
            "context_window": 128_000,
        }

    return {
        "tiers": [
            {
                "name": "cheap",
                "deployments": [
                    deployment("primary", primary),
                    deployment("down", down),
                    deployment("healthy", healthy),
                ],
            }
        ],
        "classifier": {"enabled": False},
        # first_token well above the proxy's own queueing under load, so that only a
        # silent upstream, never a busy proxy, trips it.
        "timeouts": {"connect": 0.5, "first_token": 1.0, "idle": 0.5, "read": 2.0, "total": 5.0},
        "fallback": {
            "enabled": True,
            "deadline_s": 5.0,
            "neighbour_tiers": "none",
            "max_retries": 1,
            "max_retry_wait_s": 0.5,
            # The primary's 30 % opens it; a healthy deployment's rare timeout does not.
            "breaker": {"window_s": 10, "min_calls": 10, "failure_rate": 0.2, "cooldown_s": 2},
        },
    }


class Services:
    """Upstreams and proxy subprocesses, stopped on exit whatever happened."""

    def __init__(self, workdir: Path, redis: RedisServer, plan: Plan) -> None:
        self.workdir, self.redis, self.plan = workdir, redis, plan
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Services:
        upstream = self._spawn(
            "tests.chaos.upstream_main",
            "--failure-rate", str(self.plan.failure_rate),
            "--latency-ms", str(self.plan.latency_ms),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert upstream.stdout is not None
        ports = json.loads(upstream.stdout.readline())
        self.primary, self.healthy, self.down = ports["primary"], ports["healthy"], free_port()
        config = self.workdir / "routing.json"
        config.write_text(json.dumps(chain_config(self.primary, self.down, self.healthy)))
        self.proxy = free_port()
        self._spawn(
            "tests.chaos.proxy_main",
            "--config", str(config),
            "--redis-url", self.redis.url,
            "--port", str(self.proxy),
        )  # fmt: skip
        self._wait_ready(f"http://127.0.0.1:{self.proxy}/metrics")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def _spawn(self, module: str, *args: str, **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, **kw)
        self._procs.append(proc)
        return proc

    def _wait_ready(self, url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not come up in {timeout_s} s")

    def get(self, port: int, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def load(
    port: int,
    out: Path,
    *,
    rate: float,
    count: int,
    stream_share: float,
    connections: int = 64,
    time_limit_s: float | None = None,
) -> subprocess.Popen[bytes]:
    limit = time_limit_s if time_limit_s is not None else count / max(rate, 1) * 1.5 + 30
    args = ["--port", str(port), "--rate", str(rate), "--count", str(count)]
    args += ["--stream-share", str(stream_share), "--connections", str(connections)]
    args += ["--time-limit-s", str(limit), "--out", str(out)]
    return subprocess.Popen([sys.executable, "-m", "tests.chaos.loadgen", *args], cwd=REPO)


def finish(proc: subprocess.Popen[bytes], out: Path, timeout_s: float) -> dict[str, Any]:
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"load generator exited with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"n": 0}
    values = np.asarray(latencies)
    return {
        "n": len(latencies),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def summarise(
    result: dict[str, Any], *, warmup_s: float, outage: tuple[float, float]
) -> dict[str, Any]:
    outcomes = result["outcomes"]
    verdicts = Counter(o["verdict"] for o in outcomes)
    ok = [o for o in outcomes if o["verdict"] == "complete"]
    steady = [o["latency_ms"] for o in ok if o["due_s"] >= warmup_s]
    during = [o["latency_ms"] for o in ok if outage[0] <= o["due_s"] < outage[1] + 2]
    tenth = max(1, len(ok) // 10)
    first_steady = [o["latency_ms"] for o in ok if o["due_s"] >= warmup_s][:tenth]
    last = [o["latency_ms"] for o in ok[-tenth:]]
    span = max((o["due_s"] + o["latency_ms"] / 1000 for o in outcomes), default=0.0)
    achieved = len(outcomes) / span if span else 0.0
    backlog = bool(last and first_steady) and (
        float(np.median(last)) > 2 * float(np.median(first_steady)) + 20
    )
    return {
        "rate": result["rate"],
        "sent": result["sent"],
        "answered": len(outcomes),
        "verdicts": dict(verdicts),
        "served": dict(Counter(o["served"] for o in ok)),
        "streams": sum(1 for o in outcomes if o["stream"]),
        "streams_resumed": sum(1 for o in outcomes if o.get("resumed")),
        # A cut answer that reached the client as a 200 with [DONE]: must stay 0.
        "cut_presented_as_success": sum(
            1 for o in outcomes if o["detail"].startswith("incomplete")
        ),
        "achieved_rps": round(achieved, 1),
        "dispatch_lag_p99_ms": round(result["dispatch_lag_p99_ms"], 2),
        # Kept up: answers came at (nearly) the offered rate and latency did not keep growing.
        "sustained": achieved >= 0.95 * result["rate"] and not backlog and not verdicts["hung"],
        "all": percentiles([o["latency_ms"] for o in ok]),
        "steady": percentiles(steady),
        "redis_outage_window": percentiles(during),
        "bad_examples": [o["detail"] for o in outcomes if o["verdict"] != "complete"][:10],
    }


_SAMPLE = re.compile(r"^(llmtriage_fallback_\w+_total|llmtriage_breaker_state)\{(.*)\} (\S+)$")


def fallback_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            out[f"{match[1]}{{{match[2]}}}"] = float(match[3])
    return out


def chaos_run(services: Services, plan: Plan, rate: float, workdir: Path) -> dict[str, Any]:
    """One long run at `rate`, Redis killed and restarted on schedule."""
    out = workdir / f"run-{int(rate)}.json"
    duration = plan.count / rate
    kill_at, restart_at = duration * plan.redis_kill_at, duration * plan.redis_restart_at
    before = services.get(services.proxy, "/_store").json()
    proc = load(services.proxy, out, rate=rate, count=plan.count, stream_share=plan.stream_share)
    start = time.monotonic()
    time.sleep(max(0.0, kill_at - (time.monotonic() - start)))
    services.redis.kill()
    time.sleep(max(0.0, restart_at - (time.monotonic() - start)))
    services.redis.start()
    result = finish(proc, out, timeout_s=duration * 1.5 + 90)
    summary = summarise(result, warmup_s=plan.warmup_s, outage=(kill_at, restart_at))
    after = services.get(services.proxy, "/_store").json()
    summary["redis"] = {
        "killed_at_s": round(kill_at, 1),
        "restarted_at_s": round(restart_at, 1),
        "store_calls_served_locally": after["fallbacks"] - before["fallbacks"],
        "degraded_at_end": after["degraded"],
    }
    return summary


def session(workdir: Path, redis: RedisServer, plan: Plan, rate: float) -> dict[str, Any]:
    """Fresh upstreams, proxy and Redis: the healthy deployment alone at `rate`, the
    proxy's closed-loop capacity, then the chaos run at `rate`."""
    redis.restart()  # no persistence: every session starts with no breaker state
    with Services(workdir, redis, plan) as services:
        base_out = workdir / f"baseline-{int(rate)}.json"
        proc = load(
            services.healthy, base_out, rate=rate, count=int(rate * plan.baseline_s),
            stream_share=plan.stream_share,
        )  # fmt: skip
        base = summarise(finish(proc, base_out, plan.baseline_s + 90), warmup_s=0, outage=(0, 0))
        probe_out = workdir / f"capacity-{int(rate)}.json"
        proc = load(
            services.proxy, probe_out, rate=0, count=1_000_000, stream_share=plan.stream_share,
            connections=4, time_limit_s=plan.capacity_probe_s,
        )  # fmt: skip
        probe = finish(proc, probe_out, plan.capacity_probe_s + 60)
        run = chaos_run(services, plan, rate, workdir)
        run["healthy_alone"] = {k: base[k] for k in ("rate", "achieved_rps", "all", "verdicts")}
        run["proxy_capacity_rps"] = round(len(probe["outcomes"]) / plan.capacity_probe_s, 1)
        run["steady_p99_over_healthy_ms"] = round(
            run["steady"].get("p99_ms", float("inf")) - base["all"]["p99_ms"], 2
        )
        run["fallback_metrics"] = fallback_metrics(services.get(services.proxy, "/metrics").text)
        run["upstream_calls"] = {
            "primary": services.get(services.primary, "/_stats").json(),
            "healthy": services.get(services.healthy, "/_stats").json(),
        }
    return run


def long_run(workdir: Path, redis: RedisServer, plan: Plan) -> dict[str, Any]:
    """The run at `plan.rate`; when the box could not keep up with it, another at
    `lower_share` of the proxy's measured capacity."""
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "note": "other jobs on the box show in the load averages at start and end",
        },
        "plan": asdict(plan),
    }
    runs = [session(workdir, redis, plan, plan.rate)]
    if not runs[0]["sustained"]:
        lower = float(int(plan.lower_share * runs[0]["proxy_capacity_rps"]))
        runs.append(session(workdir, redis, plan, lower))
    report["runs"] = runs
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report
