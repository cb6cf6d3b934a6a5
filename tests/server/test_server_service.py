"""The full service as `llmtriage serve` builds it: scoring + routing on embedded defaults."""

from __future__ import annotations

from pathlib import Path

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.artifacts import make_tiny_artifact
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


async def test_novelty_in_score_route_and_metrics(tmp_path: Path) -> None:
    artifact = make_tiny_artifact(tmp_path, familiar=("hello there",))
    app = create_service(ServeSettings(model=artifact), env={})
    async with serve(app) as client:
        known = (await client.post("/v1/score", json={"prompt": "hello there"})).json()
        strange = (await client.post("/v1/score", json={"prompt": "frumious bandersnatch"})).json()
        assert known["novel"] is False and known["novelty"] < 0.01
        assert strange["novel"] is True and strange["novelty"] > 0.5
        again = (await client.post("/v1/score", json={"prompt": "frumious bandersnatch"})).json()
        assert again["cached"] is True and again["novelty"] == strange["novelty"]

        body = {"model": "auto", "messages": [{"role": "user", "content": "frumious bandersnatch"}]}
        decision = (await client.post("/v1/route", json=body)).json()
        assert decision["novel"] is True and decision["novelty"] == strange["novelty"]
        metrics = (await client.get("/metrics")).text
        assert "llmtriage_novel_prompts_total 3.0" in metrics
