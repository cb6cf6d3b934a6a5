"""Bad input never yields a 500: each gets its documented 4xx in the OpenAI error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings
from tests.server.conftest import AppFactory
from tests.server.helpers import assert_openai_error, serve

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n"}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": ["a"]}, "prompt"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages.0.role"),
        ({"messages": [{"role": "system", "content": "no user turn"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 7}]}, None),
        ({}, None),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, None),
        ({"prompt": "a", "temperature": 0}, "temperature"),
    ],
)
async def test_wrong_shapes_are_422(
    client: httpx.AsyncClient, body: dict[str, Any], param: str | None
) -> None:
    error = assert_openai_error(await client.post("/v1/score", json=body), 422)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


@pytest.mark.parametrize("body", [[1, 2], "just a string", 3, True])
async def test_non_object_json_is_422(client: httpx.AsyncClient, body: Any) -> None:
    assert_openai_error(await client.post("/v1/score", json=body), 422)


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/score", content=b'{"prompt": "x"', headers=JSON)
    assert_openai_error(response, 400, "invalid_json")


async def test_invalid_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/score", content=b'{"prompt": "\xff\xfe\xc3"}', headers=JSON)
    assert_openai_error(response, 400, "invalid_utf8")


async def test_lone_surrogate_escape_is_400_not_500(client: httpx.AsyncClient) -> None:
    # The tokenizers cannot encode lone surrogates; the JSON parser refuses them up front.
    response = await client.post("/v1/score", content=b'{"prompt": "caf\\ud800 au"}', headers=JSON)
    assert_openai_error(response, 400, "invalid_json")


async def test_empty_body_is_400(client: httpx.AsyncClient) -> None:
    assert_openai_error(await client.post("/v1/score", headers=JSON), 400, "invalid_json")


async def test_json_suffix_media_type_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/vnd.api+json; charset=utf-8"}
    response = await client.post("/v1/score", content=b'{"prompt": "hi"}', headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"}])
async def test_body_not_declared_json_is_415(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/v1/score", content=b'{"prompt": "x"}', headers=headers)
    assert_openai_error(response, 415, "unsupported_media_type")


async def test_10_mb_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/score", json={"prompt": "x" * 10_000_000})
    assert_openai_error(response, 413, "request_too_large")


async def test_streamed_body_without_length_is_counted(make_app: AppFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    async with serve(make_app(max_body_bytes=4096)) as client:
        response = await client.post("/v1/score", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_openai_error(response, 413, "request_too_large")


async def test_batch_over_max_batch_is_422(make_app: AppFactory) -> None:
    async with serve(make_app(max_batch=3)) as client:
        ok = await client.post("/v1/score/batch", json={"prompts": ["a"] * 3})
        too_many = await client.post("/v1/score/batch", json={"prompts": ["a"] * 4})
        items = await client.post("/v1/score/batch", json={"items": [{"prompt": "a"}] * 4})
    assert ok.status_code == 200
    assert assert_openai_error(too_many, 422, "batch_too_large")["param"] == "prompts"
    assert assert_openai_error(items, 422, "batch_too_large")["param"] == "items"


@pytest.mark.parametrize(
    "body",
    [
        {"prompts": []},
        {"prompts": ["ok", ""]},
        {"items": [{"prompt": "a"}, {}]},
        {"prompts": ["a"], "items": [{"prompt": "a"}]},
        {},
    ],
)
async def test_bad_batches_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_openai_error(await client.post("/v1/score/batch", json=body), 422)


async def test_unknown_path_and_method_keep_the_shape(client: httpx.AsyncClient) -> None:
    assert_openai_error(await client.get("/v1/nope"), 404)
    assert_openai_error(await client.get("/v1/score"), 405)


async def test_unexpected_exception_is_500_without_prompt_in_log(
    tiny_artifact: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my secret prompt text"
    boom = APIRouter()

    @boom.post("/v1/boom", openapi_extra={"x-llmtriage-auth": "scoring"})
    async def explode(body: dict[str, str]) -> None:
        raise RuntimeError(f"failed on {body['prompt']}")

    app = create_app(ServeSettings(model=tiny_artifact), routers=[boom])
    async with serve(app) as client:
        response = await client.post("/v1/boom", json={"prompt": secret})
    assert_openai_error(response, 500, "internal_error")
    assert response.json()["error"]["type"] == "server_error"
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text
