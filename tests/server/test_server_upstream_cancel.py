"""A client that disconnects while its answer is being made upstream: the upstream call
is abandoned (its connection closed), the request counted as 499 (whole answers) and the
call accounted (streams), never an error. Real HTTP on loopback, proxy and upstream."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.loopback import Loopback, head

CONFIG = """\
tiers:
  - name: cheap
    deployments:
      - {{name: mini, provider: openai, model: gpt-mini, base_url: "{url}/v1",
          api_key_env: TEST_UPSTREAM_KEY, input_price_per_mtok: 1, output_price_per_mtok: 1,
          context_window: 8000}}
  - name: strong
    deployments:
      - {{name: big, provider: openai, model: gpt-big, base_url: "{url}/v1",
          api_key_env: TEST_UPSTREAM_KEY, input_price_per_mtok: 2, output_price_per_mtok: 2,
          context_window: 8000}}
fallback: {{enabled: false}}
"""


class SlowUpstream:
    """An OpenAI-style upstream that takes 5 s to answer, noticing when its caller leaves."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.abandoned = threading.Event()
        self.answered = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.started.set()
        stream = b"stream" in b"".join(v for k, v in scope["headers"] if k == b"accept")
        if stream:
            await self._stream(receive, send)
            return
        try:
            message = await asyncio.wait_for(receive(), timeout=5)
        except TimeoutError:
            body = {"id": "x", "object": "chat.completion", "model": "gpt-mini", "choices": []}
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})
            self.answered.set()
            return
        if message["type"] == "http.disconnect":
            self.abandoned.set()

    async def _stream(self, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.ensure_future(receive())
        for i in range(50):
            chunk = {
                "id": "x",
                "object": "chat.completion.chunk",
                "model": "gpt-mini",
                "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
            }
            data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            await send({"type": "http.response.body", "body": data, "more_body": True})
            done, _ = await asyncio.wait({gone}, timeout=0.1)
            if done:
                self.abandoned.set()
                return
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        self.answered.set()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_client_leaving_cancels_the_upstream_call(
    tiny_artifact: Path, tmp_path: Path, stream: bool
) -> None:
    upstream = SlowUpstream()
    with Loopback(upstream, ServeSettings()) as fake:
        config = tmp_path / "routing.yaml"
        config.write_text(CONFIG.format(url=fake.url))
        settings = ServeSettings(model=tiny_artifact, routing_config=config)
        app = create_service(settings, env={"TEST_UPSTREAM_KEY": "sk-test"})
        with Loopback(app, settings) as proxy:
            body = json.dumps(
                {"model": "mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
            ).encode()
            with proxy.connect() as sock:
                sock.sendall(head("/v1/chat/completions", len(body)) + body)
                assert upstream.started.wait(5)
                if stream:
                    assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # it is streaming
                time.sleep(0.1)
            # Gone: the proxy lets go of the upstream long before its 5 s answer.
            assert upstream.abandoned.wait(3) and not upstream.answered.is_set()
            metrics = httpx.get(f"{proxy.url}/metrics").text
    lines = [line for line in metrics.splitlines() if "/v1/chat/completions" in line]
    statuses = [line for line in lines if line.startswith("llmtriage_http_requests_total")]
    assert not any('status="500"' in line for line in statuses), statuses
    duration = (
        'gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",'
        'gen_ai_provider_name="openai",gen_ai_request_model="gpt-mini"}'
    )
    if stream:
        assert any('status="200"' in line for line in statuses), statuses
        assert f"{duration} 1.0" in metrics  # the abandoned stream is accounted
    else:
        assert any('status="499"} 1.0' in line for line in statuses), statuses
