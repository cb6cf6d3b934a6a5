"""The ASGI fast path of POST /v1/score answers exactly what the FastAPI route answers,
and hands every request it does not fully understand to the FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from llmtriage.server.app import LlmtriageApp
from tests.server.conftest import AppFactory
from tests.server.helpers import assert_openai_error, serve

JSON = {"content-type": "application/json"}
BODIES: list[dict[str, Any]] = [
    {"prompt": "Prove that 2 + 2 = 4"},
    {"prompt": "héllo wörld ✓ " * 50},
    {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "solve x"}]}]},
]


class Counting:
    """Counts the requests that reach FastAPI's middleware stack. The built stack itself
    is wrapped: an added middleware would turn the fast path off."""

    def __init__(self, app: FastAPI) -> None:
        self.calls = 0
        stack = app.build_middleware_stack()

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.calls += 1
            await stack(scope, receive, send)

        app.middleware_stack = counted


@pytest.fixture
async def fast(make_app: AppFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Counting]]:
    app = make_app(cache_ttl_s=0)
    assert isinstance(app, LlmtriageApp) and app.fast_score is not None
    counting = Counting(app)
    async with serve(app) as client:
        yield client, counting


@pytest.mark.parametrize("cache_ttl_s", [0, 60])
async def test_same_answers_with_and_without_fast_path(
    make_app: AppFactory, cache_ttl_s: float
) -> None:
    async def answers(app: FastAPI) -> list[tuple[int, bytes, str]]:
        async with serve(app) as client:
            out = []
            for body in BODIES * 2:  # twice: the second round may come from the cache
                response = await client.post("/v1/score", json=body)
                out.append(
                    (response.status_code, response.content, response.headers["content-type"])
                )
            return out

    with_fast = await answers(make_app(cache_ttl_s=cache_ttl_s))
    without = await answers(make_app(cache_ttl_s=cache_ttl_s, fast_score_path=False))
    assert with_fast == without
    assert all(status == 200 for status, _, _ in with_fast)


async def test_well_formed_requests_skip_the_fastapi_stack(
    fast: tuple[httpx.AsyncClient, Counting],
) -> None:
    client, counting = fast
    for body in BODIES:
        assert (await client.post("/v1/score", json=body)).status_code == 200
    assert counting.calls == 0
    # other routes and methods are not its business
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/v1/score")).status_code == 405
    assert counting.calls == 2


async def test_turned_off_every_request_takes_the_fastapi_stack(make_app: AppFactory) -> None:
    app = make_app(fast_score_path=False)
    counting = Counting(app)
    async with serve(app) as client:
        assert (await client.post("/v1/score", json=BODIES[0])).status_code == 200
    assert counting.calls == 1


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"prompt": ', JSON, 400, None),  # malformed JSON: replayed to the app
        (b'{"prompt": 42}', JSON, 422, None),  # wrong type
        (b'{"prompt": "\xff\xfe"}', JSON, 400, "invalid_utf8"),
        (b'{"prompt": "hi"}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * (2 << 20), JSON, 413, "request_too_large"),
    ],
)
async def test_errors_come_from_the_app(
    fast: tuple[httpx.AsyncClient, Counting],
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    client, counting = fast
    response = await client.post("/v1/score", content=content, headers=headers)
    assert_openai_error(response, status, code)
    assert counting.calls == 1


async def test_chunked_upload_goes_to_the_app(fast: tuple[httpx.AsyncClient, Counting]) -> None:
    client, counting = fast

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": '
        yield b'"streamed in two pieces"}'

    response = await client.post("/v1/score", content=chunks(), headers=JSON)
    assert response.status_code == 200
    assert counting.calls == 1


async def test_fast_path_requests_are_counted_in_metrics(
    fast: tuple[httpx.AsyncClient, Counting],
) -> None:
    client, _ = fast
    for _ in range(3):
        await client.post("/v1/score", json={"prompt": "count me"})
    text = (await client.get("/metrics")).text
    assert (
        'llmtriage_http_requests_total{endpoint="/v1/score",method="POST",status="200"} 3.0' in text
    )
    assert 'llmtriage_http_request_duration_seconds_count{endpoint="/v1/score"} 3.0' in text
    assert "llmtriage_score_count 3.0" in text


async def test_crash_while_scoring_is_an_openai_500(
    fast: tuple[httpx.AsyncClient, Counting], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = fast

    def boom(*_: Any) -> list[float]:
        raise RuntimeError("scorer exploded")

    from llmtriage.scoring import Scorer

    monkeypatch.setattr(Scorer, "assess_batch", boom)
    response = await client.post("/v1/score", json={"prompt": "secret prompt"})
    error = assert_openai_error(response, 500, "internal_error")
    assert "secret" not in error["message"]
