"""Decision-log overhead: HTTP p99 of /v1/chat/completions through the proxy at 200 req/s,
with the decision log off, on (SQLite, the embedded default; a fresh file per run), and
on with 10 % of requests shadowed (shadow comparisons: the other tier and two judge calls
per shadowed request, off the request path but on the proxy's own CPU).

Three processes, as in bench/proxy_overhead.py (whose upstream, server and load
generator this reuses): the open-loop load generator here, the fake upstream, and the
proxy as `llmtriage serve` builds it. Added p99 = p99(log on) - p99(log off), each
against its own fresh proxy process. Target: ≤ 1 ms at 200 req/s for both. The bench
upstream's instant answer is not a verdict, so the judge's replies count as missing
verdicts; every shadow and judge call is still made.

    python -m bench.decision_log [--rate 200] [--duration 10] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench.core import Context, SectionResult
from bench.loadgen import build_requests
from bench.prompts import short_prompts
from bench.proxy_overhead import CONFIG, _cpu_seconds, _load, _serve, _upstream_app
from bench.proxy_overhead import _spawn as spawn_ready

TARGET_ADDED_P99_MS = 1.0


SHADOW = (
    "shadow: {{fraction: {fraction}, judge: big, max_per_minute: 1000000, "
    "max_usd_per_day: 1000000}}\n"
)
ROWS = (("off", "log off"), ("on", "log on"), ("shadow", "log + 10 % shadow"))


def _proxy_app(
    upstream: str, model_dir: str | None, log_url: str | None, shadow: float = 0.0
) -> Any:
    from llmtriage.server.app import create_service
    from llmtriage.server.settings import ServeSettings
    from tests.artifacts import make_tiny_artifact

    folder = Path(tempfile.mkdtemp(prefix="llmtriage-bench-log-"))
    config = folder / "routing.yaml"
    text = CONFIG.format(upstream=upstream, transport="lean")
    config.write_text(text + (SHADOW.format(fraction=shadow) if shadow > 0 else ""))
    model = Path(model_dir) if model_dir else make_tiny_artifact(folder / "tiny")
    log = {"enabled": True, "url": log_url, "hash_key": "bench" * 8} if log_url else {}
    settings = ServeSettings(
        model=model, routing_config=config, cache_ttl_s=0, gc_freeze=True, decision_log=log
    )
    return create_service(settings, env={})


def _spawn(*args: str) -> tuple[subprocess.Popen[str], int]:
    return spawn_ready(*args, module="bench.decision_log")


def _count_rows(url: str) -> int | None:
    import sqlite3

    try:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
    except sqlite3.Error:
        return None


def _shadow_calls(port: int) -> float | None:
    """llmtriage_shadow_calls_total from the proxy's /metrics (None: not readable)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("llmtriage_shadow_calls_total "):
            return float(line.split()[1])
    return None


def run(
    rate: float = 200, duration_s: float = 10.0, model_dir: str | None = None
) -> dict[str, Any]:
    bodies = [
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": p}]}).encode()
        for p in short_prompts(200)
    ]
    upstream_process, upstream = _spawn("upstream")
    results: dict[str, Any] = {"rate": rate, "duration_s": duration_s}
    try:
        for label, _ in ROWS:
            args = ["proxy", "--upstream", f"http://127.0.0.1:{upstream}"]
            args += ["--model", str(Path(model_dir).resolve())] if model_dir else []
            args += ["--shadow", "0.1"] if label == "shadow" else []
            url = None
            if label != "off":
                url = (
                    f"sqlite:///{Path(tempfile.mkdtemp(prefix='llmtriage-bench-log-')) / 'log.db'}"
                )
                args += ["--log", url]
            process, port = _spawn(*args)
            try:
                requests = build_requests(f"127.0.0.1:{port}", "/v1/chat/completions", bodies, [])
                uvloop.run(_load(port, requests, rate, 1.0))  # warm-up
                before = _cpu_seconds(process.pid)
                figures = uvloop.run(_load(port, requests, rate, duration_s))
                after = _cpu_seconds(process.pid)
                if label == "shadow":
                    results["shadow_calls"] = _shadow_calls(port)
            finally:
                process.terminate()
                process.wait(timeout=20)  # shutdown writes what is still queued
            for key in ("p50_ms", "p99_ms", "requests", "non_200", "errors"):
                results[f"{label}_{key}"] = figures[key]
            if before is not None and after is not None:
                per = (after - before) / max(figures["requests"], 1)
                results[f"{label}_cpu_ms_per_request"] = round(per * 1000, 3)
            if url is not None:
                results[f"{label}_rows_logged"] = _count_rows(url)
    finally:
        upstream_process.terminate()
        upstream_process.wait(timeout=10)
    for label in ("on", "shadow"):
        for q in ("p50", "p99"):
            added = results[f"{label}_{q}_ms"] - results[f"off_{q}_ms"]
            results[f"{label}_added_{q}_ms"] = round(added, 3)
        results[f"{label}_meets_target"] = results[f"{label}_added_p99_ms"] <= TARGET_ADDED_P99_MS
    results["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    return results


def decision_log_section(ctx: Context) -> SectionResult:
    """`make bench` section: the decision log's added latency at 200 req/s."""
    result = SectionResult(
        "Decision log: /v1/chat/completions p99 through the proxy, log off, on (SQLite), "
        "on + 10 % shadow",
        [
            "row", "rate_rps", "p50_ms", "p99_ms", "added_p50_ms", "added_p99_ms",
            "cpu_ms_per_request", "rows_logged", "shadow_calls", "meets_target",
        ],
    )  # fmt: skip
    figures = run(200.0, 4.0 if ctx.quick else 10.0, model_dir=str(ctx.model))
    for label, name in ROWS:
        row: dict[str, Any] = {"row": name, "rate_rps": 200.0}
        for column in ("p50_ms", "p99_ms", "added_p50_ms", "added_p99_ms"):
            row[column] = figures.get(f"{label}_{column}")
        row["cpu_ms_per_request"] = figures.get(f"{label}_cpu_ms_per_request")
        row["rows_logged"] = figures.get(f"{label}_rows_logged")
        row["shadow_calls"] = figures.get("shadow_calls") if label == "shadow" else None
        row["meets_target"] = figures.get(f"{label}_meets_target")
        result.rows.append(row)
    result.notes.append(
        f"classifier {ctx.model}; fake OpenAI upstream and load generator in their own "
        f"processes (bench/proxy_overhead.py's); a fresh proxy process per row; rows_logged: "
        f"decisions in the SQLite file after the run (warm-up included); shadow: fraction 0.1, "
        f"judge = the strong deployment (its instant answer is no verdict: counted missing), "
        f"shadow_calls read from /metrics at the end; target: added p99 ≤ "
        f"{TARGET_ADDED_P99_MS} ms"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "upstream", "proxy"])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--upstream", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shadow", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "upstream":
        _serve(_upstream_app, lifespan="off")
    elif args.role == "proxy":
        _serve(_proxy_app(args.upstream, args.model, args.log, args.shadow), lifespan="on")
    else:
        print(json.dumps(run(args.rate, args.duration, args.model), indent=2))


if __name__ == "__main__":
    main()
