"""Strict request types on the proxy (bodies that go upstream): no coercion, finite
numbers only, max_tokens bounded; every error in the OpenAI shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.helpers import assert_openai_error, serve

GOOD = b'{"model": "auto", "messages": [{"role": "user", "content": "hello"}]'
LARGEST_WINDOW = 200_000  # the packaged config's largest context window (claude-sonnet)


def body(extra: str) -> bytes:
    return GOOD + (b", " + extra.encode() if extra else b"") + b"}"


@pytest.mark.parametrize(
    ("extra", "status", "param"),
    [
        ('"top_p": false', 422, "top_p"),
        ('"temperature": true', 422, "temperature"),
        ('"max_tokens": true', 422, "max_tokens"),
        ('"max_tokens": 1.5', 422, "max_tokens"),
        ('"stream": "yes"', 422, "stream"),
        ('"stream": 1', 422, "stream"),
        ('"stream_options": {"include_usage": "true"}', 422, "stream_options.include_usage"),
        ('"temperature": NaN', 400, None),
        ('"top_p": Infinity', 400, None),
        ('"seed": -Infinity', 400, None),  # also in fields the proxy passes on unread
        ('"max_tokens": 1' + "0" * 400, 422, "max_tokens"),
        ('"max_tokens": 0', 422, "max_tokens"),
        ('"max_completion_tokens": -1', 422, "max_completion_tokens"),
        (f'"max_tokens": {LARGEST_WINDOW + 1}', 422, "max_tokens"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
async def test_lax_values_are_refused(
    tiny_artifact: Path, path: str, extra: str, status: int, param: str | None
) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        response = await client.post(
            path, content=body(extra), headers={"content-type": "application/json"}
        )
    error = assert_openai_error(response, status)
    assert error["param"] == param
    if status == 400:
        assert error["code"] == "invalid_json"


@pytest.mark.parametrize(
    "extra",
    ["", '"temperature": 0', '"top_p": 1', '"max_tokens": 1', f'"max_tokens": {LARGEST_WINDOW}'],
)
async def test_strict_values_pass(tiny_artifact: Path, extra: str) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        response = await client.post(
            "/v1/route", content=body(extra), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text


async def test_a_named_deployment_bounds_max_tokens_by_its_own_window(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    named = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with serve(app) as client:
        over = await client.post("/v1/route", json=named | {"max_tokens": 128_001})
        within = await client.post("/v1/route", json=named | {"max_tokens": 128_000})
        routed = await client.post(
            "/v1/route", json=named | {"model": "auto", "max_tokens": 128_001}
        )
    error = assert_openai_error(over, 422, "out_of_range")
    assert "gpt-4o-mini" in error["message"] and "128000" in error["message"]
    assert within.status_code == 200, within.text
    assert routed.status_code == 200, routed.text  # auto: bounded by the largest (200k)


async def test_every_error_status_is_declared_with_the_error_schema(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    spec: dict[str, Any] = app.openapi()
    ref = "#/components/schemas/ErrorBody"
    anthropic_ref = "#/components/schemas/AnthropicErrorBody"
    expected = {
        ("post", "/v1/chat/completions"): {400, 401, 403, 404, 413, 415, 422, 429, 502, 503, 504},
        ("post", "/v1/route"): {400, 401, 403, 404, 413, 415, 422, 503},
        ("post", "/v1/score"): {400, 401, 403, 413, 415, 422, 503},
        ("post", "/v1/score/batch"): {400, 401, 403, 413, 415, 422, 503},
        ("get", "/v1/stats"): {401, 403, 422, 503},
        ("get", "/readyz"): {401, 403, 503},
        ("post", "/v1/responses"): {400, 401, 403, 404, 413, 415, 422, 429, 502, 503, 504},
        ("post", "/v1/messages"): {400, 401, 403, 404, 413, 429, 500, 504, 529},
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = {int(s): r for s, r in operation["responses"].items() if s != "200"}
            assert {401, 403} <= set(errors), (method, path)
            want = expected.get((method, path))
            if want is not None:
                assert want <= set(errors), (method, path, sorted(errors))
            # the Anthropic Messages routes answer in Anthropic's error shape
            want_ref = anthropic_ref if path.startswith("/v1/messages") else ref
            for status, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": want_ref}, (method, path, status)
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"message", "type", "param", "code"}
