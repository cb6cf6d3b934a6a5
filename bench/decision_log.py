"""Decision-log overhead: HTTP p99 of /v1/chat/completions through the proxy at 200 req/s,
with the decision log off and on (SQLite, the embedded default; a fresh file per run).

Three processes, as in bench/proxy_overhead.py (whose upstream, server and load
generator this reuses): the open-loop load generator here, the fake upstream, and the
proxy as `llmtriage serve` builds it. Added p99 = p99(log on) - p99(log off), each
against its own fresh proxy process. Target: ≤ 1 ms at 200 req/s.

    python -m bench.decision_log [--rate 200] [--duration 10] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench.core import Context, SectionResult
from bench.loadgen import build_requests
from bench.prompts import short_prompts
from bench.proxy_overhead import CONFIG, _cpu_seconds, _load, _serve, _upstream_app

REPO = Path(__file__).resolve().parent.parent
TARGET_ADDED_P99_MS = 1.0


def _proxy_app(upstream: str, model_dir: str | None, log_url: str | None) -> Any:
    from llmtriage.server.app import create_service
    from llmtriage.server.settings import ServeSettings
    from tests.artifacts import make_tiny_artifact

    folder = Path(tempfile.mkdtemp(prefix="llmtriage-bench-log-"))
    config = folder / "routing.yaml"
    config.write_text(CONFIG.format(upstream=upstream, transport="lean"))
    model = Path(model_dir) if model_dir else make_tiny_artifact(folder / "tiny")
    log = {"enabled": True, "url": log_url, "hash_key": "bench" * 8} if log_url else {}
    settings = ServeSettings(
        model=model, routing_config=config, cache_ttl_s=0, gc_freeze=True, decision_log=log
    )
    return create_service(settings, env={})


def _spawn(*args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.decision_log", *args],
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


def _count_rows(url: str) -> int | None:
    import sqlite3

    try:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
    except sqlite3.Error:
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
        for label in ("off", "on"):
            args = ["proxy", "--upstream", f"http://127.0.0.1:{upstream}"]
            args += ["--model", str(Path(model_dir).resolve())] if model_dir else []
            url = None
            if label == "on":
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
            finally:
                process.terminate()
                process.wait(timeout=20)  # shutdown writes what is still queued
            for key in ("p50_ms", "p99_ms", "requests", "non_200", "errors"):
                results[f"{label}_{key}"] = figures[key]
            if before is not None and after is not None:
                per = (after - before) / max(figures["requests"], 1)
                results[f"{label}_cpu_ms_per_request"] = round(per * 1000, 3)
            if url is not None:
                results["rows_logged"] = _count_rows(url)
    finally:
        upstream_process.terminate()
        upstream_process.wait(timeout=10)
    results["added_p50_ms"] = round(results["on_p50_ms"] - results["off_p50_ms"], 3)
    results["added_p99_ms"] = round(results["on_p99_ms"] - results["off_p99_ms"], 3)
    results["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    results["meets_target"] = results["added_p99_ms"] <= TARGET_ADDED_P99_MS
    return results


def decision_log_section(ctx: Context) -> SectionResult:
    """`make bench` section: the decision log's added latency at 200 req/s."""
    result = SectionResult(
        "Decision log: /v1/chat/completions p99 through the proxy, log off vs on (SQLite)",
        [
            "rate_rps", "off_p50_ms", "off_p99_ms", "on_p50_ms", "on_p99_ms", "added_p99_ms",
            "off_cpu_ms_per_request", "on_cpu_ms_per_request", "rows_logged", "meets_target",
        ],
    )  # fmt: skip
    figures = run(200.0, 4.0 if ctx.quick else 10.0, model_dir=str(ctx.model))
    result.rows.append({k: figures.get(k) for k in result.columns} | {"rate_rps": 200.0})
    result.notes.append(
        f"classifier {ctx.model}; fake OpenAI upstream and load generator in their own "
        f"processes (bench/proxy_overhead.py's); a fresh proxy process per row; rows_logged: "
        f"decisions in the SQLite file after the run (warm-up included); target: added p99 ≤ "
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
    args = parser.parse_args(argv)
    if args.role == "upstream":
        _serve(_upstream_app, lifespan="off")
    elif args.role == "proxy":
        _serve(_proxy_app(args.upstream, args.model, args.log), lifespan="on")
    else:
        print(json.dumps(run(args.rate, args.duration, args.model), indent=2))


if __name__ == "__main__":
    main()
