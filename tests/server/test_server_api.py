"""The HTTP contract of the scoring service, through the ASGI app in-process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmtriage.scoring import Scorer
from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings
from tests.server.conftest import AppFactory
from tests.server.helpers import assert_openai_error, serve

MATHS = "Let f(x) = 3x^2 + 2x - 7. Compute f(12) - f(-4) / 2 and prove x^3 = 8 has one real root."


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_model_and_self_test(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["model_version"] == "tiny-test-1"
    assert 0.0 <= body["self_test_score"] <= 1.0


async def test_readyz_503_when_artifact_missing(tmp_path: Path) -> None:
    app = create_app(ServeSettings(model=tmp_path / "absent"))
    async with serve(app) as client:
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
        scored = await client.post("/v1/score", json={"prompt": "hi"})
    error = assert_openai_error(ready, 503, "not_ready")
    assert "absent" in error["message"] and "make train" in error["message"]
    assert live.status_code == 200
    assert_openai_error(scored, 503, "not_ready")


async def test_score_prompt_matches_in_process_scorer(
    client: httpx.AsyncClient, tiny_artifact: Path
) -> None:
    response = await client.post("/v1/score", json={"prompt": MATHS})
    assert response.status_code == 200
    body = response.json()
    scorer = Scorer.load(tiny_artifact)
    assert body["score"] == pytest.approx(scorer.score(MATHS))
    assert body["tier"] == scorer.tier(body["score"])
    assert body["model_version"] == "tiny-test-1"
    assert body["thresholds"] == {
        "tiers": ["cheap", "strong"],
        "cutpoints": [0.5],
        "chosen_for": "",
        "operating_points": {},
    }
    assert body["truncated"] is False
    assert body["scored_chars"] == len(MATHS)


async def test_score_messages_scores_last_user_turn(client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": MATHS}]},
    ]
    by_messages = (await client.post("/v1/score", json={"messages": messages})).json()
    by_prompt = (await client.post("/v1/score", json={"prompt": MATHS})).json()
    assert by_messages["score"] == pytest.approx(by_prompt["score"])


async def test_long_maths_prompt_lands_in_top_tier(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/score", json={"prompt": " ".join([MATHS] * 20)})).json()
    assert body["tier"] == "strong"


async def test_over_long_prompt_is_truncated_and_reported(
    client: httpx.AsyncClient, tiny_artifact: Path
) -> None:
    text = "word " * 5000  # 25,000 chars > the artifact's 8,000
    body = (await client.post("/v1/score", json={"prompt": text})).json()
    assert body["truncated"] is True
    assert body["scored_chars"] == 8000
    assert body["score"] == pytest.approx(Scorer.load(tiny_artifact).score(text))


async def test_max_prompt_chars_setting_narrows_truncation(make_app: AppFactory) -> None:
    async with serve(make_app(max_prompt_chars=100)) as client:
        body = (await client.post("/v1/score", json={"prompt": "x " * 100})).json()
        ready = (await client.get("/readyz")).json()
    assert body["truncated"] is True and body["scored_chars"] == 100
    assert ready["max_prompt_chars"] == 100


async def test_batch_prompts(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/score/batch", json={"prompts": ["hi", MATHS * 10]})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "tiny-test-1"
    assert [r["tier"] for r in body["results"]] == ["cheap", "strong"]
    single = (await client.post("/v1/score", json={"prompt": "hi"})).json()
    assert body["results"][0]["score"] == pytest.approx(single["score"])


async def test_batch_items_mix_prompts_and_messages(client: httpx.AsyncClient) -> None:
    items = [{"prompt": "hi"}, {"messages": [{"role": "user", "content": "hi"}]}]
    body = (await client.post("/v1/score/batch", json={"items": items})).json()
    first, second = body["results"]
    assert first["score"] == pytest.approx(second["score"])


async def test_openapi_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert {"/v1/score", "/v1/score/batch", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


async def test_extra_routers_and_lifespans_plug_in(tiny_artifact: Path) -> None:
    from contextlib import asynccontextmanager

    from fastapi import APIRouter, FastAPI

    extra = APIRouter()
    events: list[str] = []

    @extra.get("/v1/extra", openapi_extra={"x-llmtriage-auth": "scoring"})  # its auth group
    async def extra_route() -> dict[str, bool]:
        return {"ok": True}

    @asynccontextmanager
    async def hook(app: FastAPI):  # type: ignore[no-untyped-def]
        events.append("open")
        yield
        events.append("close")

    app = create_app(ServeSettings(model=tiny_artifact), routers=[extra], lifespans=[hook])
    async with serve(app) as client:
        assert (await client.get("/v1/extra")).json() == {"ok": True}
    assert events == ["open", "close"]


async def test_given_scorer_is_used(tiny_artifact: Path, tmp_path: Path) -> None:
    scorer = Scorer.load(tiny_artifact)
    app = create_app(ServeSettings(model=tmp_path / "unused"), scorer=scorer)
    async with serve(app) as client:
        assert (await client.get("/readyz")).status_code == 200
