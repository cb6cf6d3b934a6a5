"""Ingress overhead: /v1/messages and /v1/responses beside /v1/chat/completions.

The same processes as bench/proxy_overhead.py (its fake OpenAI upstream answering at
once, and the whole service as `llmtriage serve` builds it, routing `model: auto` with
the classifier to that upstream), loaded open-loop by its load generator. Each API is
loaded in turn, twice, interleaved (chat, messages, responses, chat, …) so that drift of
the machine hits all three alike; per API the better of its two runs is kept. The
ingresses translate both ways (the upstream is OpenAI-format), so what is measured is
each API's parsing, translation and event writing on top of the shared routing path.

Target: p50 of /v1/messages and of /v1/responses within 0.5 ms of /v1/chat/completions.

    python -m bench.ingress_overhead [--rate 200] [--duration 10] [--model DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvloop

from bench.core import Context, SectionResult
from bench.loadgen import build_requests
from bench.prompts import short_prompts
from bench.proxy_overhead import _cpu_seconds, _load, _spawn

TARGET_DELTA_P50_MS = 0.5
APIS = ("chat", "messages", "responses")
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}


def _body(api: str, prompt: str) -> bytes:
    if api == "messages":
        body: dict[str, Any] = {
            "model": "auto",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": prompt}],
        }
    elif api == "responses":
        body = {"model": "auto", "input": prompt, "max_output_tokens": 256}
    else:
        body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    return json.dumps(body).encode()


async def _measure(port: int, rate: float, duration_s: float, pid: int) -> dict[str, Any]:
    prompts = short_prompts(200)
    requests = {
        api: build_requests(f"127.0.0.1:{port}", PATHS[api], [_body(api, p) for p in prompts])
        for api in APIS
    }
    for api in APIS:  # warm pools, caches and the allocator
        await _load(port, requests[api], rate, 1.0)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        for api in APIS:
            before = _cpu_seconds(pid)
            figures = await _load(port, requests[api], rate, duration_s)
            after = _cpu_seconds(pid)
            if before is not None and after is not None:
                cpu = (after - before) / max(figures["requests"], 1)
                figures["cpu_ms_per_request"] = round(cpu * 1000, 3)
            if api not in best or figures["p50_ms"] < best[api]["p50_ms"]:
                best[api] = figures
    chat = best["chat"]
    results: dict[str, Any] = {"rate": rate, "duration_s": duration_s, "apis": best}
    for api in ("messages", "responses"):
        best[api]["delta_p50_ms"] = round(best[api]["p50_ms"] - chat["p50_ms"], 3)
        best[api]["delta_p99_ms"] = round(best[api]["p99_ms"] - chat["p99_ms"], 3)
    results["meets_target"] = all(
        best[api]["delta_p50_ms"] <= TARGET_DELTA_P50_MS and best[api]["non_200"] == 0
        for api in ("messages", "responses")
    )
    return results


def run_ingress_overhead(
    rate: float = 200, duration_s: float = 10.0, *, model_dir: str | Path | None = None
) -> dict[str, Any]:
    upstream_process, upstream = _spawn("upstream")
    try:
        args = ["proxy", "--upstream", f"http://127.0.0.1:{upstream}"]
        args += ["--model", str(Path(model_dir).resolve())] if model_dir else []
        proxy_process, proxy = _spawn(*args)
        try:
            return uvloop.run(_measure(proxy, rate, duration_s, proxy_process.pid))
        finally:
            proxy_process.terminate()
            proxy_process.wait(timeout=10)
    finally:
        upstream_process.terminate()
        upstream_process.wait(timeout=10)


def _print(results: dict[str, Any]) -> None:
    print(
        f"ingress overhead at {results['rate']:.0f} req/s open-loop, {results['duration_s']:.0f} s"
    )
    for api, f in results["apis"].items():
        delta = f" (Δp50 {f['delta_p50_ms']:+.3f} ms)" if "delta_p50_ms" in f else ""
        print(
            f"  {PATHS[api]:<22} p50 {f['p50_ms']:7.3f} ms  p99 {f['p99_ms']:7.3f} ms"
            f"  cpu {f.get('cpu_ms_per_request', float('nan')):.3f} ms/req{delta}"
            f"  ({f['requests']} answered, {f['non_200']} non-200)"
        )
    verdict = "OK" if results["meets_target"] else "MISSED"
    print(f"  target Δp50 ≤ {TARGET_DELTA_P50_MS} ms: {verdict}")


def ingress_overhead_section(ctx: Context) -> SectionResult:
    """`make bench` section: the three APIs on one proxy, at 200 req/s."""
    result = SectionResult(
        "Ingress overhead: /v1/messages and /v1/responses beside /v1/chat/completions",
        ["api", "p50_ms", "p99_ms", "delta_p50_ms", "delta_p99_ms", "cpu_ms_per_request",
         "requests", "non_200", "meets_target"],
    )  # fmt: skip
    figures = run_ingress_overhead(200.0, 4.0 if ctx.quick else 10.0, model_dir=ctx.model)
    for api, f in figures["apis"].items():
        row = {k: f.get(k) for k in result.columns} | {"api": PATHS[api]}
        result.rows.append(row | {"meets_target": figures["meets_target"]})
    result.notes.append(
        f"classifier {ctx.model}; bench/proxy_overhead.py's fake OpenAI upstream and service "
        f"processes, one proxy for all three APIs, each loaded twice interleaved (best run "
        f"kept); both ingresses translate to the OpenAI-format upstream; target: p50 within "
        f"{TARGET_DELTA_P50_MS} ms of /v1/chat/completions"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--model", default=None, help="classifier artifact folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run_ingress_overhead(args.rate, args.duration, model_dir=args.model)
    print(json.dumps(results, indent=2)) if args.json else _print(results)


if __name__ == "__main__":
    main()
