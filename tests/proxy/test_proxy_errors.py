"""Auth, unknown models, missing keys, upstream failures; and keys never leak."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from fastapi import FastAPI

from llmtriage.routing import load_routing_config
from llmtriage.scoring.scorer import Scorer
from llmtriage.server.errors import install_error_handlers
from llmtriage.server.routes import proxy
from llmtriage.service import build_routing
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI
from tests.proxy.harness import CLIENT_KEY, ENV
from tests.proxy.prompts import SHORT, user

SECRETS = (*ENV.values(), CLIENT_KEY)


def test_wrong_or_missing_client_key_is_401(proxy_url: str) -> None:
    bad = openai.OpenAI(base_url=proxy_url + "/v1", api_key="wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="auto", messages=user(SHORT))
    assert info.value.code == "invalid_api_key" and "wrong" not in str(info.value)
    for path in ("/v1/route", "/v1/chat/completions"):
        response = httpx.post(proxy_url + path, json={"model": "auto", "messages": user(SHORT)})
        assert (
            response.status_code == 401
            and response.json()["error"]["type"] == "authentication_error"
        )
    assert httpx.get(proxy_url + "/v1/models").status_code == 401


def test_second_client_key_works(proxy_url: str, openai_fake: tuple[FakeOpenAI, str]) -> None:
    with openai.OpenAI(base_url=proxy_url + "/v1", api_key="second-key", max_retries=0) as other:
        assert other.chat.completions.create(model="auto", messages=user(SHORT)).choices


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=user(SHORT))
    assert info.value.code == "model_not_found" and "gpt-9" in info.value.message


def test_deployment_without_key_is_503_naming_the_variable(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="nokey", messages=user(SHORT), stream=stream)
        assert info.value.status_code == 503 and info.value.code == "provider_key_missing"
        assert "'nokey'" in info.value.message and "TEST_MISSING_KEY" in info.value.message


def test_upstream_rate_limit_passes_status_and_retry_after(
    client: openai.OpenAI, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = openai_fake
    fake.fail_next(
        429,
        {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
        {"retry-after": "3"},
    )
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="mini", messages=user(SHORT))
    assert info.value.response.headers["retry-after"] == "3"
    assert "Rate limit reached" in info.value.message


@pytest.mark.parametrize(("status", "stream"), [(500, False), (500, True), (529, True)])
def test_upstream_server_errors_are_502(
    client: openai.OpenAI, anthropic_fake: tuple[FakeAnthropic, str], status: int, stream: bool
) -> None:
    fake, _ = anthropic_fake
    fake.fail_next(
        status, {"type": "error", "error": {"type": "api_error", "message": "upstream broke"}}
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="sonnet", messages=user(SHORT), stream=stream)
    assert info.value.status_code == 502 and "upstream broke" in info.value.message


def test_untranslatable_request_is_400(client: openai.OpenAI) -> None:
    audio = [
        {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}],
        }
    ]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="sonnet", messages=audio)  # type: ignore[arg-type]
    assert "input_audio" in info.value.message


def test_provider_keys_never_reach_the_client(
    proxy_url: str, openai_fake: tuple[FakeOpenAI, str], anthropic_fake: tuple[FakeAnthropic, str]
) -> None:
    fake, _ = openai_fake
    # An upstream that quotes the key back in its error message.
    fake.fail_next(
        401, {"error": {"message": f"Incorrect API key provided: {ENV['TEST_OPENAI_KEY']}"}}
    )
    fake.fail_next(400, {"error": {"message": f"bad request for {ENV['TEST_OPENAI_KEY']}"}})
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "mini", "messages": user(SHORT)}
    responses = [
        httpx.post(proxy_url + "/v1/chat/completions", json=body, headers=auth),
        httpx.post(proxy_url + "/v1/chat/completions", json=body, headers=auth),
        httpx.post(
            proxy_url + "/v1/chat/completions", json={**body, "model": "nokey"}, headers=auth
        ),
        httpx.get(proxy_url + "/v1/models", headers=auth),
        httpx.post(proxy_url + "/v1/route", json=body, headers=auth),
    ]
    assert [r.status_code for r in responses] == [502, 400, 503, 200, 200]
    assert "rejected its configured credentials" in responses[0].json()["error"]["message"]
    assert "[redacted]" in responses[1].json()["error"]["message"]
    for response in responses:
        seen = response.text + str(response.headers)
        assert not any(secret in seen for secret in SECRETS)


async def test_embedded_default_without_keys(tiny_artifact: Path) -> None:
    """The packaged config with no provider keys: routing works, completions say what to set."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(proxy.router)
    async with httpx.AsyncClient() as upstream:
        app.state.routing = build_routing(
            load_routing_config(), Scorer.load(tiny_artifact), http_client=upstream, env={}
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as local:
            body = {"model": "auto", "messages": user(SHORT)}
            route = await local.post("/v1/route", json=body)
            chat = await local.post("/v1/chat/completions", json=body)
    assert route.status_code == 200 and route.json()["deployment"] == "gpt-4o-mini"
    assert chat.status_code == 503
    error = chat.json()["error"]
    assert error["code"] == "provider_key_missing" and error["type"] == "service_unavailable"
    assert "'gpt-4o-mini'" in error["message"] and "OPENAI_API_KEY" in error["message"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route"])
def test_request_bodies_are_checked_before_routing(proxy_url: str, path: str) -> None:
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'

    def post(content: bytes, **headers: str) -> httpx.Response:
        return httpx.post(proxy_url + path, content=content, headers=auth | headers)

    # no Content-Type: parsed as JSON, as FastAPI does
    assert post(body).status_code == 200
    assert post(body, **{"content-type": "application/json; charset=utf-8"}).status_code == 200
    errors = {
        415: post(body, **{"content-type": "text/plain"}),
        400: post(b'{"model": "auto", "messages": [', **{"content-type": "application/json"}),
        422: post(b'{"model": "auto"}', **{"content-type": "application/json"}),
    }
    for status, response in errors.items():
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert errors[422].json()["error"]["param"] == "messages"
    # a bad key is refused before the body is looked at
    refused = httpx.post(proxy_url + path, content=b"{", headers={"authorization": "Bearer x"})
    assert refused.status_code == 401
