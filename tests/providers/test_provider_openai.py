"""OpenAI-compatible provider against a fake OpenAI server on loopback."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from llmtriage.providers.base import Endpoint, Timeouts
from llmtriage.providers.errors import (
    ContextWindowExceeded,
    ErrorKind,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderStreamError,
    ProviderTimeout,
)
from llmtriage.providers.openai_compat import OpenAICompatProvider
from llmtriage.providers.types import ChatChunk, ChatRequest
from tests.providers.wire_fakes import FakeOpenAI, openai_usage

FAST = Timeouts(connect=2, read=5, total=10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def provider(
    url: str, client: httpx.AsyncClient, key: str | None = "sk-openai-test-key"
) -> OpenAICompatProvider:
    endpoint = Endpoint(deployment="mini", model="gpt-mini", base_url=url + "/v1", api_key=key)
    return OpenAICompatProvider(endpoint, client=client)


def request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": "Say hello"}], **extra}
    )


async def test_complete_retargets_model_and_keeps_unknown_fields(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    response = await provider(url, client).complete(request(seed=7, logprobs=False), timeout=FAST)
    sent = fake.received[-1]
    assert sent.body["model"] == "gpt-mini"
    assert sent.body["seed"] == 7 and sent.body["logprobs"] is False
    assert "stream_options" not in sent.body
    assert sent.headers["authorization"] == "Bearer sk-openai-test-key"
    assert response.choices[0]["message"]["content"] == "Hello from gpt-mini fake"
    prompt, completion = openai_usage(sent.body, "Hello from gpt-mini fake")
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (prompt, completion)
    assert response.model_extra == {"system_fingerprint": "fp_fake"}


async def test_stream_asks_for_usage_and_ends_with_usage_chunk(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    chunks: list[ChatChunk] = [
        c async for c in provider(url, client).stream(request(stream=True), timeout=FAST)
    ]
    assert fake.received[-1].body["stream_options"] == {"include_usage": True}
    text = "".join(c.choices[0]["delta"].get("content", "") for c in chunks if c.choices)
    assert text == "Hello from gpt-mini fake"
    assert chunks[-1].usage_only
    assert [c.choices[0]["finish_reason"] for c in chunks if c.choices][-1] == "stop"


async def test_no_key_sends_no_authorization(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    with pytest.raises(ProviderAuthError) as info:
        await provider(url, client, key=None).complete(request(), timeout=FAST)
    assert "authorization" not in fake.received[-1].headers
    assert info.value.status == 401 and not info.value.retryable


async def test_rate_limit_carries_status_retry_after_and_body(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    body = {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    fake.fail_next(429, body, {"retry-after-ms": "1500", "retry-after": "2"})
    with pytest.raises(ProviderRateLimited) as info:
        await provider(url, client).complete(request(), timeout=FAST)
    error = info.value
    assert error.status == 429 and error.retry_after == 1.5 and error.retryable
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.body == body and error.provider_message == "Rate limit reached"
    assert error.deployment == "mini" and error.headers["retry-after"] == "2"


async def test_context_length_and_server_errors(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    fake.fail_next(400, {"error": {"message": "too long", "code": "context_length_exceeded"}})
    with pytest.raises(ContextWindowExceeded):
        await provider(url, client).complete(request(), timeout=FAST)
    fake.fail_next(500, {"error": {"message": "boom"}})
    with pytest.raises(ProviderServerError) as info:
        [c async for c in provider(url, client).stream(request(stream=True), timeout=FAST)]
    assert info.value.status == 500 and info.value.retryable


async def test_connection_refused_is_typed(client: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderConnectionError) as info:
        await provider("http://127.0.0.1:9", client).complete(request(), timeout=FAST)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_total_deadline_cuts_a_stalled_stream(
    openai_fake: tuple[FakeOpenAI, str], client: httpx.AsyncClient
) -> None:
    fake, url = openai_fake
    fake.hold_after_first_chunk = threading.Event()
    stream = provider(url, client).stream(
        request(stream=True), timeout=Timeouts(connect=2, read=5, total=0.3)
    )
    first = await anext(stream)
    assert first.choices[0]["delta"]["role"] == "assistant"
    assert (await anext(stream)).choices[0]["delta"]["content"] == "Hello"
    with pytest.raises(ProviderTimeout):
        await anext(stream)
    await stream.aclose()


async def test_error_inside_a_200_stream() -> None:
    sse = (
        b'data: {"id":"x","object":"chat.completion.chunk","choices":[]}\n\n'
        b'data: {"error": {"message": "server had an error", "type": "server_error"}}\n\n'
    )
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=sse))
    async with httpx.AsyncClient(transport=transport) as mock:
        stream = provider("http://upstream", mock).stream(request(stream=True), timeout=FAST)
        with pytest.raises(ProviderStreamError) as info:
            [c async for c in stream]
    assert info.value.error_type == "server_error"
