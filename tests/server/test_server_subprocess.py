"""End-to-end: a real uvicorn process over HTTP, and the serving import graph."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.helpers import make_static_artifact

pytestmark = pytest.mark.slow

HEAVY = ("torch", "pandas", "sklearn", "llmtriage_train", "sentence_transformers", "transformers")
SECRET = "zebra-quokka-unique-prompt-text"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tiny_artifact: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "llmtriage.cli", "serve", "--model", str(tiny_artifact)]
    command += ["--port", str(port), "--log-level", "info"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRIAGE_")}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited {process.returncode}: {log.read_text()}")
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"server did not start: {log.read_text()}")


def test_real_uvicorn_over_http(server: tuple[str, Path]) -> None:
    base, log = server
    with httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["status"] == "ready"
        scored = client.post("/v1/score", json={"prompt": SECRET})
        assert scored.status_code == 200
        assert scored.json()["tier"] in ("cheap", "strong")
        assert scored.headers["content-type"] == "application/json"
    assert _raw_oversized_post(base).startswith(b"HTTP/1.1 413")
    assert SECRET not in log.read_text()  # access log off; prompts never logged


def _raw_oversized_post(base: str) -> bytes:
    """Declare 10 MB but send only the headers: the 413 must come before any body byte."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        return sock.recv(4096)


NO_HEAVY_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
import httpx
from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings

async def main():
    app = create_app(ServeSettings(model=Path(sys.argv[1])))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://t"
    ) as client:
        ready = (await client.get("/readyz")).status_code
        scored = (await client.post("/v1/score", json={"prompt": "what is 2 + 2 ?"})).status_code
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
    print(json.dumps({"ready": ready, "scored": scored, "heavy": heavy}))

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["hashing", "static"])
def test_serving_imports_no_heavy_modules(kind: str, tiny_artifact: Path, tmp_path: Path) -> None:
    artifact = tiny_artifact if kind == "hashing" else make_static_artifact(tmp_path / "static")
    result = subprocess.run(
        [sys.executable, "-c", NO_HEAVY_SCRIPT, str(artifact), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"ready": 200, "scored": 200, "heavy": []}


CLI_SCRIPT = """
import json, sys
from llmtriage import cli
try:
    cli.main(["serve", "--help"])
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))))
"""


def test_the_cli_registers_every_command_without_loading_training_libraries() -> None:
    # every subcommand's module is imported to register it, `serve` included; the
    # training ones must defer scikit-learn, scipy and torch to when they run
    heavy = ["torch", "pandas", "sklearn", "scipy", "sentence_transformers", "transformers"]
    result = subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, json.dumps(heavy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
