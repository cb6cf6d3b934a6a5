"""A client that goes away before or while sending its body is not a server error:
counted under status 499, logged at debug, never a 500 (real HTTP on loopback)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.loopback import Loopback, head

CASES = [
    ("/v1/score", 200, 20),  # the fast path, mid-body
    ("/v1/score", 200, 0),  # the fast path, before the body
    ("/v1/score/batch", 200, 20),
    ("/v1/route", 200, 20),
    ("/v1/chat/completions", 200, 0),
]


def counts(metrics: str, endpoint: str) -> dict[str, float]:
    """status -> count of llmtriage_http_requests_total for `endpoint`."""
    found: dict[str, float] = {}
    prefix = f'llmtriage_http_requests_total{{endpoint="{endpoint}",method="POST",status="'
    for line in metrics.splitlines():
        if line.startswith(prefix):
            status = line[len(prefix) :].split('"', 1)[0]
            found[status] = float(line.rsplit(" ", 1)[1])
    return found


@pytest.mark.parametrize("fast_score_path", [True, False], ids=["fast-path", "fastapi"])
def test_disconnects_are_counted_as_499_not_500(
    tiny_artifact: Path, fast_score_path: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="llmtriage.server")
    settings = ServeSettings(model=tiny_artifact, fast_score_path=fast_score_path)
    with Loopback(create_service(settings, env={}), settings) as server:
        for path, announced, sent in CASES:
            with server.connect() as sock:
                sock.sendall(head(path, announced) + b'{"prompt": "hello the'[:sent])
                time.sleep(0.05)  # the server has read the head (and what came of the body)
        deadline = time.monotonic() + 5
        while True:
            metrics = httpx.get(f"{server.url}/metrics").text
            seen = {path: counts(metrics, path) for path, _, _ in CASES}
            expected = {path: sum(1 for p, _, _ in CASES if p == path) for path, _, _ in CASES}
            if all(seen[p].get("499") == n for p, n in expected.items()):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        # Normal requests still answer on the same server.
        assert httpx.post(f"{server.url}/v1/score", json={"prompt": "hi"}).status_code == 200
    assert all("500" not in statuses for statuses in seen.values()), seen
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or "unhandled" in r.msg]
    assert errors == [], [r.getMessage() for r in errors]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(m.startswith("client disconnected on POST /v1/route") for m in debug), debug
