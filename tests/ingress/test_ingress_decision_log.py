"""The Messages and Responses routes log their decisions as chat completions do: one
row per answer (whole or streamed), its id in the answer's headers."""

from __future__ import annotations

from pathlib import Path

from llmtriage.server.app import create_service
from llmtriage.server.state import app_state
from tests.learning.service import ENV, settings, write_routing
from tests.providers.wire_fakes import FakeOpenAI
from tests.server.helpers import serve

MESSAGES = {
    "model": "auto",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
RESPONSES = {"model": "auto", "input": "What is the capital of France?"}


async def test_messages_and_responses_answers_are_logged(
    tmp_path: Path, tiny_artifact: Path, openai_fake: tuple[FakeOpenAI, str]
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    app = create_service(
        settings(tiny_artifact, routing, f"sqlite:///{tmp_path / 'log.db'}"), env=ENV
    )
    async with serve(app) as client:
        answers = [
            await client.post("/v1/messages", json=MESSAGES),
            await client.post("/v1/responses", json=RESPONSES),
        ]
        for path, body in (("/v1/messages", MESSAGES), ("/v1/responses", RESPONSES)):
            async with client.stream("POST", path, json={**body, "stream": True}) as streamed:
                assert streamed.status_code == 200
                await streamed.aread()
            answers.append(streamed)
        assert [a.status_code for a in answers] == [200] * 4
        ids = [a.headers["x-llmtriage-decision-id"] for a in answers]
        assert len(set(ids)) == 4
        state = app_state(app)
        assert state.shared is not None and state.shared.telemetry.decision_log is not None
        log = state.shared.telemetry.decision_log
        await log.flush()
        assert log.store is not None
        rows = [await log.store.get(i) for i in ids]
    assert all(row is not None for row in rows)
    assert [row.stream for row in rows if row is not None] == [False, False, True, True]
    for row, answer in zip(rows, answers, strict=True):
        assert row is not None and row.tier == answer.headers["x-llmtriage-tier"]
