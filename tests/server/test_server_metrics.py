from __future__ import annotations

import httpx

from tests.server.conftest import AppFactory
from tests.server.helpers import serve


async def test_metrics_count_requests_scores_and_tiers(client: httpx.AsyncClient) -> None:
    await client.post("/v1/score", json={"prompt": "hello"})
    await client.post("/v1/score", json={"prompt": "x" * 9000})
    await client.post("/v1/score", json={"prompt": ""})
    await client.post("/v1/score/batch", json={"prompts": ["a", "b"]})
    await client.get("/v1/unknown/123")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    expected = [
        'llmtriage_http_requests_total{endpoint="/v1/score",method="POST",status="200"} 2.0',
        'llmtriage_http_requests_total{endpoint="/v1/score",method="POST",status="422"} 1.0',
        'llmtriage_http_requests_total{endpoint="/v1/score/batch",method="POST",status="200"} 1.0',
        'llmtriage_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1.0',
        'llmtriage_http_request_duration_seconds_bucket{endpoint="/v1/score",le="0.0001"}',
        "llmtriage_score_count 4.0",
        'llmtriage_tier_total{tier="cheap"}',
        "llmtriage_truncated_prompts_total 1.0",
        'llmtriage_model_info{model_version="tiny-test-1"} 1.0',
        "llmtriage_ready 1.0",
        'llmtriage_scoring_duration_seconds_count{kind="single"} 2.0',
    ]
    for line in expected:
        assert line in text, line


async def test_413_is_counted(make_app: AppFactory) -> None:
    async with serve(make_app(max_body_bytes=2048)) as client:
        await client.post("/v1/score", json={"prompt": "x" * 5000})
        text = (await client.get("/metrics")).text
    assert 'status="413"' in text


async def test_each_app_has_its_own_registry(make_app: AppFactory) -> None:
    async with serve(make_app()) as first, serve(make_app()) as second:
        await first.post("/v1/score", json={"prompt": "hello"})
        text = (await second.get("/metrics")).text
    assert "llmtriage_score_count 0.0" in text
