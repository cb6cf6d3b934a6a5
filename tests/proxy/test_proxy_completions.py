"""The proxy through the official openai SDK: routing, headers, usage and exact cost."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import openai
from openai.types.chat import ChatCompletionMessageFunctionToolCall, ChatCompletionMessageParam

from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI, anthropic_usage, openai_usage
from tests.proxy.harness import CLIENT_KEY
from tests.proxy.prompts import MATHS, SHORT, TOOLS, user

MILLION = Decimal(1_000_000)


def expected_cost(prompt: int, completion: int, price_in: str, price_out: str) -> Decimal:
    return (prompt * Decimal(price_in) + completion * Decimal(price_out)) / MILLION


def test_short_prompt_goes_to_the_cheap_tier(
    client: openai.OpenAI, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = openai_fake
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=user(SHORT))
    completion = raw.parse()
    headers = raw.headers
    assert headers["x-llmtriage-tier"] == "cheap"
    assert (
        headers["x-llmtriage-deployment"] == "mini" and headers["x-llmtriage-model"] == "gpt-mini"
    )
    assert headers["x-llmtriage-reason"] == "classifier" and "x-llmtriage-rule" not in headers
    assert float(headers["x-llmtriage-score"]) < 0.5
    sent = fake.received[-1]
    assert (
        sent.body["model"] == "gpt-mini"
        and sent.headers["authorization"] == "Bearer sk-openai-test-key"
    )
    assert completion.model == "gpt-mini-2024-07-18"  # what the upstream says answered
    assert completion.choices[0].message.content == "Hello from gpt-mini fake"
    prompt, out = openai_usage(sent.body, "Hello from gpt-mini fake")
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, out)
    assert Decimal(headers["x-llmtriage-cost"]) == expected_cost(prompt, out, "0.15", "0.60")


def test_maths_goes_to_the_strong_tier_through_anthropic(
    client: openai.OpenAI, anthropic_fake: tuple[FakeAnthropic, str]
) -> None:
    fake, _ = anthropic_fake
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are exact."},
        *user(MATHS),
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, max_tokens=200
    )
    completion = raw.parse()
    assert (
        raw.headers["x-llmtriage-tier"] == "strong"
        and raw.headers["x-llmtriage-model"] == "claude-sonnet"
    )
    assert float(raw.headers["x-llmtriage-score"]) >= 0.5
    sent = fake.received[-1].body
    assert (
        sent["system"] == "You are exact."
        and sent["max_tokens"] == 200
        and sent["model"] == "claude-sonnet"
    )
    assert completion.object == "chat.completion" and completion.model == "claude-sonnet"
    choice = completion.choices[0]
    assert (
        choice.message.content == "Bonjour from claude-sonnet fake"
        and choice.finish_reason == "stop"
    )
    prompt, out = anthropic_usage(sent, "Bonjour from claude-sonnet fake")
    assert completion.usage is not None and completion.usage.total_tokens == prompt + out
    assert Decimal(raw.headers["x-llmtriage-cost"]) == expected_cost(prompt, out, "3", "15")


def test_rules_decide_before_the_classifier(
    client: openai.OpenAI,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    create = client.chat.completions.with_raw_response.create
    tools = create(model="auto", messages=user(SHORT), tools=TOOLS, tool_choice="required")
    assert (tools.headers["x-llmtriage-tier"], tools.headers["x-llmtriage-rule"]) == (
        "strong",
        "tools",
    )
    assert "x-llmtriage-score" not in tools.headers
    calls = tools.parse().choices[0].message.tool_calls or []
    assert isinstance(calls[0], ChatCompletionMessageFunctionToolCall)
    assert calls[0].function.name == "weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    summary = create(model="auto", messages=user(MATHS), extra_headers={"x-feature": "summarise"})
    assert (summary.headers["x-llmtriage-tier"], summary.headers["x-llmtriage-rule"]) == (
        "cheap",
        "summaries",
    )
    json_mode = create(model="auto", messages=user(MATHS), response_format={"type": "json_object"})
    assert (
        json_mode.headers["x-llmtriage-deployment"],
        json_mode.headers["x-llmtriage-reason"],
    ) == ("mini", "rule")


def test_free_users_never_reach_the_strong_tier(
    client: openai.OpenAI, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    create = client.chat.completions.with_raw_response.create
    for model in ("auto", "sonnet", "claude-sonnet", "strong"):
        raw = create(model=model, messages=user(MATHS), extra_headers={"X-User-Tier": "free"})
        assert raw.headers["x-llmtriage-tier"] == "cheap", model
        assert raw.headers["x-llmtriage-reason"] == "forbidden-clamp"


def test_passthrough_by_deployment_and_model_name(
    client: openai.OpenAI,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    create = client.chat.completions.with_raw_response.create
    by_deployment = create(model="sonnet", messages=user(SHORT))
    assert by_deployment.headers["x-llmtriage-tier"] == "strong"
    assert by_deployment.headers["x-llmtriage-reason"] == "passthrough"
    by_model = create(model="gpt-mini", messages=user(MATHS))
    assert (by_model.headers["x-llmtriage-deployment"], by_model.headers["x-llmtriage-reason"]) == (
        "mini",
        "passthrough",
    )
    assert by_model.parse().choices[0].message.content == "Hello from gpt-mini fake"


def test_route_returns_the_decision_without_calling_a_model(
    proxy_url: str, openai_fake: tuple[FakeOpenAI, str], anthropic_fake: tuple[FakeAnthropic, str]
) -> None:
    body = {"model": "auto", "messages": user(MATHS)}
    auth = {"authorization": f"Bearer {CLIENT_KEY}", "x-user-tier": "free"}
    response = httpx.post(proxy_url + "/v1/route", json=body, headers=auth)
    assert response.status_code == 200
    decision = response.json()
    assert decision["tier"] == "cheap" and decision["reason"] == "forbidden-clamp"
    assert decision["forbidden_tiers"] == ["strong"] and decision["forbid_rules"] == ["free"]
    assert decision["score"] >= 0.5 and decision["thresholds"] == {"strong": 0.5}
    assert decision["model_version"] == "tiny-test-1" and decision["deployment"] == "mini"
    assert response.headers["x-llmtriage-tier"] == "cheap"
    assert openai_fake[0].received == [] and anthropic_fake[0].received == []


def test_models_lists_auto_names_tiers_and_deployments(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["auto", "cheap", "strong", "mini", "nokey", "sonnet"]
