"""`POST /v1/score` through the ASGI app in-process, with and without the fast path.

No sockets and no server: each request is one call of the app with a prepared scope,
so the figure is the app's own cost per request (what server/fast_score.py saves),
apart from uvicorn's HTTP parsing. Decision cache off: every request is scored.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.core import Context, SectionResult, percentiles_us
from bench.prompts import short_prompts


def asgi_section(ctx: Context) -> SectionResult:
    result = SectionResult(
        "POST /v1/score through the ASGI app in-process (no network)",
        ["fast_score_path", "n", "p50_us", "p99_us", "mean_us"],
    )
    n = 500 if ctx.quick else 5000
    for fast in (False, True):
        samples = asyncio.run(_timed_requests(ctx, fast=fast, n=n))
        result.rows.append({"fast_score_path": fast, "n": n, **percentiles_us(samples)})
    result.notes.append(
        "one app call per request with a prepared scope and body (distinct short prompts, "
        "decision cache off); the rest of a request's cost is uvicorn's (see the http section)"
    )
    return result


async def _timed_requests(ctx: Context, *, fast: bool, n: int) -> list[float]:
    from llmtriage.scoring import Scorer
    from llmtriage.server.app import create_app
    from llmtriage.server.settings import ServeSettings

    settings = ServeSettings(model=ctx.model, cache_ttl_s=0, fast_score_path=fast)
    app = create_app(settings, scorer=Scorer.load(ctx.model))
    warmup = 200
    bodies = [json.dumps({"prompt": p}).encode() for p in short_prompts(n + warmup)]
    samples = []
    async with app.router.lifespan_context(app):
        for i, body in enumerate(bodies):
            start = time.perf_counter()
            status = await _call(app, body)
            if i >= warmup:
                samples.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"/v1/score answered {status}")
    return samples


async def _call(app: Any, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/score",
        "raw_path": b"/v1/score",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the app answers
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status
