"""Killing PostgreSQL mid-run fails no request: a real server (SIGKILL) under a real HTTP
proxy (uvicorn on loopback) with requests flowing; rows are dropped and counted while it
is down, and written again once it is back on the same port."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from llmtriage.server.app import create_service
from tests.learning.postgres_server import PostgresServer
from tests.learning.service import ENV, chat, settings, write_routing
from tests.providers.wire_fakes import FakeOpenAI
from tests.server.loopback import Loopback

pytestmark = pytest.mark.slow


def _counter(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_killing_postgres_mid_run_fails_no_request(
    tmp_path: Path,
    tiny_artifact: Path,
    openai_fake: tuple[FakeOpenAI, str],
    private_postgres: PostgresServer,
) -> None:
    routing = write_routing(tmp_path, openai_fake[1])
    config = settings(tiny_artifact, routing, private_postgres.url, timeout_s=1.0)
    statuses: list[int] = []
    stop = threading.Event()

    with Loopback(create_service(config, env=ENV), config) as server:

        def traffic() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                while not stop.is_set():
                    response = client.post("/v1/chat/completions", json=chat())
                    statuses.append(response.status_code)
                    time.sleep(0.005)

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                written = "llmtriage_decision_log_written_total"
                dropped = 'llmtriage_decision_log_dropped_total{reason="store_error"}'

                def metric(name: str) -> float:
                    return _counter(client.get("/metrics").text, name)

                _wait(lambda: metric(written) > 20, "rows written before the kill")
                private_postgres.kill()
                before = len(statuses)
                _wait(lambda: metric(dropped) > 0 and len(statuses) > before + 50, "drops")
                private_postgres.start()  # same port, same data folder
                back = metric(written)
                _wait(lambda: metric(written) > back + 20, "rows written after the restart")
        finally:
            stop.set()
            worker.join(timeout=30)
    assert len(statuses) > 100
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}


def _wait(condition: object, what: str, limit_s: float = 60.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
