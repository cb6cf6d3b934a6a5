"""Two real service processes (uvicorn via `llmtriage serve`) sharing one Redis: the
stats of either add up to every request sent to both, and a score cached by one is a hit
in the other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.redis_server import free_port
from tests.redis_service.conftest import chat

pytestmark = [pytest.mark.slow, pytest.mark.redis]

N_SCORE = 40  # 30 distinct prompts, 10 of them sent again to the other replica
N_CHAT = 10


def _prompts() -> list[str]:
    short = [f"Name a colour, please ({i})." for i in range(15)]
    maths = [f"Prove that for every n > {i}, the sum of 1/k^2 for k = 1..n is below 2, " * 3
             for i in range(15)]  # fmt: skip
    return short + maths


@pytest.fixture
def replicas(
    tiny_artifact: Path, routing_config: Path, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRIAGE_")}
    env |= {
        "LLMTRIAGE_REDIS_URL": redis_url,
        "LLMTRIAGE_REDIS_PREFIX": prefix,
        "LLMTRIAGE_ROUTING_CONFIG": str(routing_config),
        "LLMTRIAGE_STATS_FLUSH_S": "0.2",
    }
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    bases = []
    try:
        for i in range(2):
            port, log = free_port(), tmp_path / f"replica{i}.log"
            command = [
                sys.executable,
                "-m",
                "llmtriage.cli",
                "serve",
                "--model",
                str(tiny_artifact),
            ]
            command += ["--port", str(port), "--log-level", "warning"]
            with log.open("wb") as out:
                processes.append(
                    (subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env), log)
                )
            bases.append(f"http://127.0.0.1:{port}")
        for base, (process, log) in zip(bases, processes, strict=True):
            _wait_ready(base, process, log)
        yield bases
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"replica exited {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"replica did not start: {log.read_text()}")


async def test_stats_add_up_across_replicas_and_the_cache_is_shared(replicas: list[str]) -> None:
    prompts = _prompts()
    sends = [(i % 2, prompts[i]) for i in range(len(prompts))]
    sends += [((i + 1) % 2, prompts[i]) for i in range(N_SCORE - len(prompts))]  # other replica
    clients = [httpx.AsyncClient(base_url=b, timeout=10) for b in replicas]
    limit = asyncio.Semaphore(8)

    async def post(replica: int, path: str, body: dict[str, Any]) -> httpx.Response:
        async with limit:
            response = await clients[replica].post(path, json=body)
        assert response.status_code == 200, response.text
        return response

    try:
        first = await asyncio.gather(*(post(r, "/v1/score", {"prompt": p}) for r, p in sends[:30]))
        repeats = await asyncio.gather(
            *(post(r, "/v1/score", {"prompt": p}) for r, p in sends[30:])
        )
        chats = await asyncio.gather(
            *(post(i % 2, "/v1/chat/completions", chat(f"hello number {i}")) for i in range(N_CHAT))
        )
        scored = [r.json() for r in (*first, *repeats)]
        assert [s["cached"] for s in scored] == [False] * 30 + [True] * 10
        tiers = Counter(s["tier"] for s in scored)
        assert set(tiers) == {"cheap", "strong"}, tiers  # both tiers exercised
        tokens = Counter[str]()
        for response in chats:
            usage = response.json()["usage"]
            tokens.update(input=usage["prompt_tokens"], output=usage["completion_tokens"])
        chat_tiers = Counter(r.headers["x-llmtriage-tier"] for r in chats)

        views = await _settled_stats(clients)
    finally:
        for client in clients:
            await client.aclose()

    a, b = views
    assert a == b  # identical on every replica: both read the same Redis buckets
    assert a["scoring"] == {"prompts": N_SCORE, "tiers": dict(sorted(tiers.items()))}
    assert a["cache"]["paths"]["score"] == {"hits": 10, "misses": 30, "hit_rate": 0.25}
    routing = a["routing"]
    assert routing["decisions"] == N_CHAT and routing["completions"] == N_CHAT
    assert routing["tiers"] == dict(chat_tiers)
    assert a["tokens"] == {"input": tokens["input"], "output": tokens["output"]}
    assert a["cost_usd"]["spent"] > 0 and a["cost_usd"]["saved"] > 0


async def _settled_stats(clients: list[httpx.AsyncClient]) -> list[dict[str, Any]]:
    """Stats of every replica once the write-behind has flushed everywhere."""
    deadline = time.monotonic() + 15
    while True:
        views = []
        for client in clients:
            body = (await client.get("/v1/stats", params={"window_s": 3600})).json()
            views.append(
                {k: body[k] for k in ("scoring", "routing", "cache", "tokens", "cost_usd")}
            )
        done = all(
            v["scoring"]["prompts"] == N_SCORE and v["routing"]["completions"] == N_CHAT
            for v in views
        )
        if done and views[0] == views[1]:
            return views
        if time.monotonic() > deadline:
            pytest.fail(f"stats did not settle: {views}")
        await asyncio.sleep(0.2)
