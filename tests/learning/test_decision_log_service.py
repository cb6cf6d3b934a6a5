"""The decision log in the full service: one row per answered request, its id in the
answer's headers, feedback joined to it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from llmtriage.learning.log import DecisionLog
from llmtriage.learning.record import prompt_hash
from llmtriage.learning.store import DecisionStore
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from llmtriage.server.state import app_state
from tests.learning.service import ENV, OTHER_KEY, bearer, chat, settings, write_routing
from tests.providers.wire_fakes import FakeOpenAI
from tests.server.helpers import assert_openai_error, serve

Fake = tuple[FakeOpenAI, str]


def _log(app: object) -> DecisionLog:
    state = app_state(app)  # type: ignore[arg-type]
    assert state.shared is not None and state.shared.telemetry.decision_log is not None
    return state.shared.telemetry.decision_log


def _store(app: object) -> DecisionStore:
    store = _log(app).store
    assert store is not None
    return store


async def test_each_answer_is_logged_under_the_id_in_its_headers(
    tmp_path: Path, tiny_artifact: Path, openai_fake: Fake
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    url = f"sqlite:///{tmp_path / 'log.db'}"
    app = create_service(settings(tiny_artifact, routing, url), env=ENV)
    async with serve(app) as client:
        whole = await client.post("/v1/chat/completions", json=chat())
        assert whole.status_code == 200, whole.text
        tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
        ruled = await client.post("/v1/chat/completions", json=chat(tools=tools))
        async with client.stream(
            "POST", "/v1/chat/completions", json=chat("Tell me a story", stream=True)
        ) as streamed:
            assert streamed.status_code == 200
            await streamed.aread()
        ids = [r.headers["x-llmtriage-decision-id"] for r in (whole, ruled, streamed)]
        assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
        await _log(app).flush()
        store = _store(app)
        first, tool_row, stream_row = [await store.get(i) for i in ids]
        assert first is not None and tool_row is not None and stream_row is not None

        assert first.router == "auto" and first.reason == "classifier"
        assert first.tier == whole.headers["x-llmtriage-tier"]
        assert first.deployment == whole.headers["x-llmtriage-deployment"]
        assert first.score is not None
        assert f"{first.score:.4f}" == whole.headers["x-llmtriage-score"]
        assert first.propensity == 1.0 and first.policy_tier == first.routed_tier == first.tier
        usage = whole.json()["usage"]
        assert (first.prompt_tokens, first.completion_tokens) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
        )
        assert first.cost_usd == float(whole.headers["x-llmtriage-cost"])
        assert first.latency_ms is not None and first.latency_ms > 0
        assert first.attempts == 1 and first.fallbacks == () and first.outcome == "ok"
        # no prompt without log_prompts, only its keyed hash
        assert first.prompt is None
        assert first.prompt_hash == prompt_hash(b"k" * 32, "What is the capital of France?")

        assert tool_row.reason == "rule" and tool_row.rule == "tools" and tool_row.tier == "strong"
        assert tool_row.score is None
        assert stream_row.stream is True and stream_row.outcome == "ok"
        assert stream_row.completion_tokens is None or stream_row.completion_tokens > 0
        assert await store.count() == 3


async def test_prompts_are_stored_only_when_asked(
    tmp_path: Path, tiny_artifact: Path, openai_fake: Fake
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    app = create_service(settings(tiny_artifact, routing, "memory://", log_prompts=True), env=ENV)
    async with serve(app) as client:
        answer = await client.post("/v1/chat/completions", json=chat("Plain text please"))
        await _log(app).flush()
        row = await _store(app).get(answer.headers["x-llmtriage-decision-id"])
        assert row is not None and row.prompt == "Plain text please"


async def test_feedback_is_joined_idempotent_and_404s_unknown_ids(
    tmp_path: Path, tiny_artifact: Path, openai_fake: Fake
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    url = f"sqlite:///{tmp_path / 'log.db'}"
    app = create_service(settings(tiny_artifact, routing, url, auth=True), env=ENV)
    async with serve(app) as client:
        answer = await client.post("/v1/chat/completions", json=chat(), headers=bearer())
        decision_id = answer.headers["x-llmtriage-decision-id"]
        # at once: the row may still be queued; feedback waits for it
        good = await client.post(
            "/v1/feedback", json={"decision_id": decision_id, "label": "good"}, headers=bearer()
        )
        assert good.status_code == 200, good.text
        assert good.json() == {
            "object": "feedback",
            "decision_id": decision_id,
            "source": "feedback",
            "score": 1.0,
            "label": "good",
            "comment": None,
        }
        again = {"decision_id": decision_id, "score": 0.25, "comment": "too terse"}
        for _ in range(2):
            replaced = await client.post("/v1/feedback", json=again, headers=bearer())
            assert replaced.status_code == 200 and replaced.json()["score"] == 0.25
        logged = await _store(app).fetch()
        assert len(logged) == 1 and [v.score for v in logged[0].verdicts] == [0.25]
        assert logged[0].verdicts[0].comment == "too terse"

        unknown = await client.post(
            "/v1/feedback", json={"decision_id": "0" * 32, "score": 1}, headers=bearer()
        )
        assert_openai_error(unknown, 404, "decision_not_found")
        theirs = await client.post(
            "/v1/feedback", json={"decision_id": decision_id, "score": 1}, headers=bearer(OTHER_KEY)
        )
        assert_openai_error(theirs, 404, "decision_not_found")
        anonymous = await client.post("/v1/feedback", json={"decision_id": decision_id, "score": 1})
        assert anonymous.status_code == 401
        for bad in (
            {"decision_id": decision_id},
            {"decision_id": decision_id, "score": 1, "label": "good"},
            {"decision_id": decision_id, "score": 1.5},
            {"decision_id": decision_id, "label": "meh"},
            {"decision_id": "", "score": 1},
        ):
            response = await client.post("/v1/feedback", json=bad, headers=bearer())
            assert_openai_error(response, 422)
        assert [v.score for v in (await _store(app).fetch())[0].verdicts] == [0.25]


async def test_log_off_no_id_header_and_feedback_404s(
    tmp_path: Path, tiny_artifact: Path, openai_fake: Fake
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    app = create_service(
        ServeSettings(model=tiny_artifact, routing_config=routing, cache_ttl_s=0), env=ENV
    )
    async with serve(app) as client:
        answer = await client.post("/v1/chat/completions", json=chat())
        assert answer.status_code == 200 and "x-llmtriage-decision-id" not in answer.headers
        response = await client.post("/v1/feedback", json={"decision_id": "a" * 32, "score": 1})
        error = assert_openai_error(response, 404, "decision_not_found")
        assert "decision log is off" in error["message"]


async def test_dropped_rows_are_counted_in_metrics(
    tmp_path: Path, tiny_artifact: Path, openai_fake: Fake
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    # a store that cannot be opened (a file where its folder should be): rows are dropped
    (tmp_path / "blocked").write_text("")
    url = f"sqlite:///{tmp_path / 'blocked' / 'log.db'}"
    app = create_service(settings(tiny_artifact, routing, url), env=ENV)
    async with serve(app) as client:
        for _ in range(3):
            answer = await client.post("/v1/chat/completions", json=chat())
            assert answer.status_code == 200, answer.text
        await _log(app).flush()
        metrics = (await client.get("/metrics")).text
        assert 'llmtriage_decision_log_dropped_total{reason="store_error"} 3.0' in metrics
        body = json.dumps({"decision_id": answer.headers["x-llmtriage-decision-id"], "score": 1})
        feedback = await client.post(
            "/v1/feedback", content=body, headers={"content-type": "application/json"}
        )
        assert_openai_error(feedback, 503, "decision_log_unavailable")


__all__ = ["httpx"]
