"""The service on its store, in-process: decision cache on /v1/score and /v1/route,
GenAI and routing metrics, /v1/stats, readiness, settings. Embedded memory store unless
a test says otherwise."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmtriage.errors import ConfigError
from llmtriage.server.settings import load_settings
from tests.redis_service.conftest import ServiceFactory, chat
from tests.server.helpers import assert_openai_error, serve

PROMPT = "What is the capital of France?"


async def stats(client: httpx.AsyncClient, window_s: int = 3600) -> dict[str, Any]:
    response = await client.get("/v1/stats", params={"window_s": window_s})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_score_cache_hit_skips_scoring(make_service: ServiceFactory) -> None:
    async with serve(make_service()) as client:
        first = (await client.post("/v1/score", json={"prompt": PROMPT})).json()
        again = (await client.post("/v1/score", json={"prompt": f"  {PROMPT}\n"})).json()
        metrics = (await client.get("/metrics")).text
        body = await stats(client)
    assert first["cached"] is False and again["cached"] is True
    assert again["score"] == first["score"] and again["tier"] == first["tier"]
    assert 'llmtriage_scoring_duration_seconds_count{kind="single"} 1.0' in metrics
    assert 'llmtriage_decision_cache_lookups_total{path="score",result="hit"} 1.0' in metrics
    assert 'llmtriage_decision_cache_lookups_total{path="score",result="miss"} 1.0' in metrics
    assert "llmtriage_score_count 2.0" in metrics  # a cached score is still a scored prompt
    assert body["scoring"] == {"prompts": 2, "tiers": {first["tier"]: 2}}
    assert body["cache"]["paths"]["score"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert body["store"] == {"backend": "memory", "degraded": False}


async def test_cache_ttl_zero_disables_the_cache(make_service: ServiceFactory) -> None:
    async with serve(make_service(cache_ttl_s=0)) as client:
        for _ in range(2):
            assert (await client.post("/v1/score", json={"prompt": PROMPT})).json()[
                "cached"
            ] is False
        body = await stats(client)
    assert body["cache"] == {"hits": 0, "misses": 0, "hit_rate": None, "paths": {}}


async def test_route_asks_the_cache_only_when_the_classifier_would_run(
    make_service: ServiceFactory,
) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    async with serve(make_service()) as client:
        decisions = []
        for body in (
            chat(PROMPT),
            chat(PROMPT),
            chat(PROMPT, tools=tools),
            chat(PROMPT, model="big"),
        ):
            response = await client.post("/v1/route", json=body)
            assert response.status_code == 200, response.text
            decisions.append(response.json())
        body = await stats(client)
    fresh, cached, by_rule, named = decisions
    assert cached["score"] == fresh["score"] and cached["reason"] == "classifier"
    assert by_rule["reason"] == "rule" and named["reason"] == "passthrough"
    assert body["cache"]["paths"]["route"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert body["routing"]["decisions"] == 4
    assert body["routing"]["reasons"] == {"classifier": 2, "passthrough": 1, "rule": 1}
    assert sum(body["routing"]["tiers"].values()) == 4


async def test_completions_record_genai_metrics_tokens_and_savings(
    make_service: ServiceFactory,
) -> None:
    text = "hi there"  # 8 chars: 2 prompt tokens; the fake answers "fake reply": 2 tokens
    async with serve(make_service()) as client:
        whole = await client.post("/v1/chat/completions", json=chat(text))
        assert whole.status_code == 200, whole.text
        streamed = await client.post(
            "/v1/chat/completions",
            json=chat(text, stream=True, stream_options={"include_usage": True}),
        )
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        metrics = (await client.get("/metrics")).text
        body = await stats(client)
    tier = whole.headers["x-llmtriage-tier"]
    assert tier == "cheap"  # a short greeting: the tiny artifact scores it low
    labels = (
        'gen_ai_operation_name="chat",gen_ai_provider_name="fake",gen_ai_request_model="fake-mini"'
    )
    assert f'gen_ai_client_token_usage_count{{{labels},gen_ai_token_type="input"}} 2.0' in metrics
    assert f'gen_ai_client_token_usage_sum{{{labels},gen_ai_token_type="output"}} 4.0' in metrics
    assert f"gen_ai_client_operation_duration_seconds_count{{{labels}}} 2.0" in metrics
    assert 'llmtriage_routing_decisions_total{reason="classifier",tier="cheap"} 2.0' in metrics
    spent = 2 * (2 * 0.15 + 2 * 0.6) / 1e6
    baseline = 2 * (2 * 3 + 2 * 15) / 1e6
    assert body["tokens"] == {"input": 4, "output": 4}
    assert body["routing"]["completions"] == 2
    assert math.isclose(body["cost_usd"]["spent"], spent, rel_tol=1e-9)
    assert math.isclose(body["cost_usd"]["baseline"], baseline, rel_tol=1e-9)
    assert math.isclose(body["cost_usd"]["saved"], baseline - spent, rel_tol=1e-9)
    assert "llmtriage_cost_saved_usd " in metrics


async def test_readyz_and_metrics_report_the_store(make_service: ServiceFactory) -> None:
    async with serve(make_service()) as client:
        ready = (await client.get("/readyz")).json()
        metrics = (await client.get("/metrics")).text
    assert ready["store"] == {"backend": "memory", "degraded": False}
    assert "llmtriage_store_degraded 0.0" in metrics
    assert 'llmtriage_store_info{backend="memory"} 1.0' in metrics


async def test_stats_window_is_validated(make_service: ServiceFactory) -> None:
    async with serve(make_service(stats_retention_s=600)) as client:
        assert_openai_error(await client.get("/v1/stats", params={"window_s": 0}), 422)
        too_long = await client.get("/v1/stats", params={"window_s": 601})
        assert_openai_error(too_long, 422, "window_too_long")


async def test_tenants_do_not_share_cache_entries(
    make_service: ServiceFactory, tmp_path: Path, routing_config: Path
) -> None:
    digests = [hashlib.sha256(k.encode()).hexdigest() for k in ("key-a", "key-b")]
    config = tmp_path / "auth.yaml"
    config.write_text(routing_config.read_text() + f"auth: {{api_key_hashes: {digests}}}\n")
    # Stats open here: with client keys configured they default to an admin key.
    service = make_service(routing_config=config, auth={"stats": "open"}, redis_key_secret="s")
    async with serve(service) as client:
        for key in ("key-a", "key-a", "key-b"):
            headers = {"authorization": f"Bearer {key}"}
            assert (
                await client.post("/v1/route", json=chat(PROMPT), headers=headers)
            ).status_code == 200
        body = await stats(client)
    assert body["cache"]["paths"]["route"] == {"hits": 1, "misses": 2, "hit_rate": 1 / 3}


def test_settings_refuse_a_bad_redis_url_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(redis_url="http://user:hunter2@cache:6379")
    assert "redis_url" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="stats_retention_s"):
        load_settings(stats_bucket_s=600, stats_retention_s=300)
    settings = load_settings(redis_url="redis://user:hunter2@cache:6379/0")
    assert "hunter2" not in repr(settings)
    assert settings.store_config().backend == "redis"


@pytest.mark.redis
async def test_two_apps_on_one_redis_share_cache_and_stats(
    make_service: ServiceFactory, redis_url: str
) -> None:
    async with (
        serve(make_service(redis_url=redis_url)) as a,
        serve(make_service(redis_url=redis_url)) as b,
    ):
        assert (await a.post("/v1/score", json={"prompt": PROMPT})).json()["cached"] is False
        assert (await b.post("/v1/score", json={"prompt": PROMPT})).json()["cached"] is True
        assert (await b.post("/v1/route", json=chat(PROMPT))).status_code == 200
        assert (await a.post("/v1/route", json=chat(PROMPT))).status_code == 200
        await stats(a)  # flushes a's pending counts
        from_a, from_b = await stats(b), await stats(a)
        ready = (await a.get("/readyz")).json()
    for body in (from_a, from_b):
        assert body["scoring"]["prompts"] == 2 and body["routing"]["decisions"] == 2
        assert body["cache"]["paths"]["score"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
        assert body["cache"]["paths"]["route"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
        assert body["store"] == {"backend": "redis", "degraded": False}
    assert ready["store"] == {"backend": "redis", "degraded": False}
