"""The full service as `llmtriage serve` builds it: scoring + routing on embedded defaults."""

from __future__ import annotations

from pathlib import Path

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.helpers import assert_openai_error, serve


async def test_embedded_default_scores_routes_and_names_missing_keys(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        score = await client.post("/v1/score", json={"prompt": "hello"})
        assert score.status_code == 200 and score.json()["tier"] == "cheap"

        body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
        route = await client.post("/v1/route", json=body)
        assert route.status_code == 200, route.text
        decision = route.json()
        assert decision["tier"] == "cheap" and decision["reason"] == "classifier"
        assert 0.0 <= decision["score"] <= 1.0

        chat = await client.post("/v1/chat/completions", json=body)
        error = assert_openai_error(chat, 503)
        assert "OPENAI_API_KEY" in error["message"] and "gpt-4o-mini" in error["message"]

        models = await client.get("/v1/models")
        ids = {m["id"] for m in models.json()["data"]}
        assert {"auto", "gpt-4o-mini", "claude-sonnet"} <= ids


async def test_service_exposes_fallback_metrics_and_store(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        metrics = (await client.get("/metrics")).text
        assert "llmtriage_fallback_attempts" in metrics
        ready = (await client.get("/readyz")).json()
        assert ready["store"]["backend"] == "memory" and ready["store"]["degraded"] is False
