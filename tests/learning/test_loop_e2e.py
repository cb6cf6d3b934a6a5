"""The learning loop end to end over real HTTP (uvicorn), with fake OpenAI and Anthropic
upstreams and a fake judge speaking the real wire formats:

    1,000 requests, 10 % shadowed -> decision-log rows and shadow verdicts -> feedback ->
    `llmtriage outcomes export` -> `llmtriage train --base` -> the adapted artifact routes
    the adapted traffic differently.

Beside it: shadow calls stop at the requests-a-minute cap, and a judge that is down
leaves every request answered and the verdicts counted as missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from llmtriage.cli import main
from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.learning.record import LoggedDecision
from llmtriage.learning.settings import DecisionLogSettings
from llmtriage.learning.shadow import Shadower
from llmtriage.learning.store import open_decision_store
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from llmtriage.service import RoutingService
from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.generalisation.default_model import train_default
from tests.learning.shadow_fakes import ENV, FakeJudge, prompts, write_routing
from tests.providers.serving import ServerThread
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI
from tests.training.generalisation.test_default_model_artifact import _table

Fake = tuple[Any, str]
ADMIN_KEY = "learning-admin-key"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A difficulty artifact (what `llmtriage train --base` adapts), trained small."""
    out = tmp_path_factory.mktemp("models") / "base"
    table, _ = _table()
    pairs = {"routellm": (WEAK, STRONG)}
    train_default(table, HashingEmbedder(), None, out, fixed_pairs=pairs, loto=False, jobs=1)
    return out


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    with ServerThread(FakeJudge().app) as server:
        yield server.url


def _service(
    tmp_path: Path, model: Path, upstreams: dict[str, str], shadow: dict[str, Any]
) -> tuple[FastAPI, str]:
    routing = write_routing(tmp_path, shadow=json.dumps(shadow), **upstreams)
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    settings = ServeSettings(
        model=model,
        routing_config=routing,
        cache_ttl_s=0,
        rate_limit_rps=0,
        admin_key_hashes=[hashlib.sha256(ADMIN_KEY.encode()).hexdigest()],
        decision_log=DecisionLogSettings(
            enabled=True, url=url, flush_s=0.01, hash_key=SecretStr("k" * 32), log_prompts=True
        ),
    )
    return create_service(settings, env=ENV), url


def _shadower(app: FastAPI) -> Shadower:
    service: RoutingService = app.state.routing
    assert service.shadower is not None
    return service.shadower


async def _send(
    url: str, traffic: list[tuple[str, str]], *, stream_every: int = 0, concurrency: int = 8
) -> list[httpx.Response]:
    """Each prompt once through /v1/chat/completions (every `stream_every`-th streamed)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int, text: str) -> httpx.Response:
        body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        if stream_every and i % stream_every == 0:
            body["stream"] = True
        async with gate:
            answer = await client.post("/v1/chat/completions", json=body)
            await answer.aread()
            return answer

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return list(
            await asyncio.gather(*(one(client, i, text) for i, (_, text) in enumerate(traffic)))
        )


async def _feedback(url: str, ids: list[str], labels: list[str]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, decision_id: str, label: str) -> None:
        async with gate:
            body = {"decision_id": decision_id, "label": label}
            posted = await client.post("/v1/feedback", json=body)
        assert posted.status_code == 200, posted.text

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(one(client, i, label) for i, label in zip(ids, labels, strict=True)))


def _idle(shadower: Shadower, deadline_s: float = 60.0) -> None:
    """Until every shadow job queued has run (a bound, not a measurement)."""
    end = time.monotonic() + deadline_s
    while shadower.pending and time.monotonic() < end:
        time.sleep(0.02)
    assert shadower.pending == 0


async def _logged(url: str) -> list[LoggedDecision]:
    store = await open_decision_store(url)
    try:
        return await store.fetch()
    finally:
        await store.aclose()


def _strong_share(scores: dict[str, list[str]]) -> dict[str, float]:
    return {kind: tiers.count("strong") / len(tiers) for kind, tiers in scores.items()}


async def _route(url: str, traffic: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each prompt's routed tier by kind, from POST /v1/route."""
    tiers: dict[str, list[str]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for kind, text in traffic:
            body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
            decided = await client.post("/v1/route", json=body)
            assert decided.status_code == 200, decided.text
            tiers.setdefault(kind, []).append(decided.json()["tier"])
    return tiers


async def test_the_loop_from_traffic_to_an_adapted_artifact(
    tmp_path: Path,
    base: Path,
    judge_url: str,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstreams = {"openai": openai_fake[1], "anthropic": anthropic_fake[1], "judge": judge_url}
    shadow = {"fraction": 0.1, "judge": "judge", "seed": 7, "max_per_minute": 10_000}
    app, url = _service(tmp_path, base, upstreams, shadow)
    traffic = prompts(1000, seed=1)
    held_out = prompts(200, seed=2)
    with ServerThread(app) as server:
        before = await _route(server.url, held_out)
        # One at a time: the seeded shadow sample then falls on the same requests each run.
        answers = await _send(server.url, traffic, stream_every=10, concurrency=1)
        assert [a.status_code for a in answers] == [200] * 1000
        shadower = _shadower(app)
        _idle(shadower)
        # The client's feedback on every answer agrees with the judge: good from the cheap
        # tier on proofs, from the strong tier on the rest.
        ids = [a.headers["x-llmtriage-decision-id"] for a in answers]
        kinds = {i: kind for i, (kind, _) in zip(ids, traffic, strict=True)}
        labels = [
            "good" if (kinds[i] == "geo") == (a.headers["x-llmtriage-tier"] == "strong") else "bad"
            for i, a in zip(ids, answers, strict=True)
        ]
        await _feedback(server.url, ids, labels)
        await _check_log_and_verdicts(url, shadower, kinds, feedback=len(ids))

        outcomes = tmp_path / "traffic.jsonl"
        export = ["outcomes", "export", "--log", url, "--out", str(outcomes), "--complete"]
        assert await asyncio.to_thread(main, export) == 0  # the CLI runs its own loop
        rows = [json.loads(line) for line in outcomes.read_text().splitlines()]
        assert len(rows) == shadower.judged  # only the shadowed rows score both deployments
        assert all(set(r) == {"id", "prompt", "source", "task", "claude", "mini"} for r in rows)
        assert {r["task"] for r in rows} == {"auto"}

        adapted = tmp_path / "adapted"
        train = ["train", "--base", str(base), "--data", str(outcomes), "--out", str(adapted)]
        train += ["--weak", "mini", "--strong", "claude"]
        assert await asyncio.to_thread(main, train) == 0
        capsys.readouterr()

        # Swapped in hot; then proofs (where the cheap tier wins) move down and the rest
        # (where the strong tier wins) up.
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            swapped = await client.post(
                "/v1/admin/reload", json={"model": str(adapted)}, headers=admin
            )
        assert swapped.status_code == 200, swapped.text
        after = await _route(server.url, held_out)
    old, new = _strong_share(before), _strong_share(after)
    print(f"strong share before {old}, after {new}")
    assert new["proof"] < new["geo"]
    assert new["geo"] - new["proof"] > old["geo"] - old["proof"]
    assert new["proof"] <= old["proof"] and new["geo"] >= old["geo"]


async def _check_log_and_verdicts(
    url: str, shadower: Shadower, kinds: dict[str, str], *, feedback: int
) -> None:
    # 10 % of 1,000: binomial, within 3.2 sigma (sd 9.5)
    assert 70 <= shadower.sampled <= 130
    assert shadower.calls == shadower.judged == shadower.sampled
    assert set(shadower.skipped.values()) == {0} and set(shadower.missing.values()) == {0}
    logged = await _logged(url)
    assert len(logged) == 1000 and {e.record.outcome for e in logged} == {"ok"}
    assert sum(e.record.stream for e in logged) == 100
    shadowed = [e for e in logged if any(v.source.startswith("shadow:") for v in e.verdicts)]
    assert len(shadowed) == shadower.judged
    assert sum(e.record.stream for e in shadowed) > 0  # streams are shadowed once they end
    for entry in shadowed:
        scores = {v.source: v.score for v in entry.verdicts if v.source.startswith("shadow:")}
        assert set(scores) == {"shadow:mini", "shadow:claude"}
        expected = 0.0 if kinds[entry.record.decision_id] == "proof" else 1.0
        assert scores["shadow:claude"] == expected  # the judge agreed in both orders
        assert scores["shadow:mini"] == 1.0 - expected
    assert sum(e.verdict() is not None for e in logged) == feedback


async def test_shadow_calls_stop_at_the_requests_a_minute_cap(
    tmp_path: Path,
    tiny_artifact: Path,
    judge_url: str,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    upstreams = {"openai": openai_fake[1], "anthropic": anthropic_fake[1], "judge": judge_url}
    cap = 5
    shadow = {"fraction": 1.0, "judge": "judge", "max_per_minute": cap}
    app, url = _service(tmp_path, tiny_artifact, upstreams, shadow)
    with ServerThread(app) as server:
        started = time.monotonic()
        answers = await _send(server.url, prompts(60, seed=3))
        shadower = _shadower(app)
        _idle(shadower)
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 60
    refilled = int(elapsed * cap / 60.0)  # the bucket refills cap a minute
    assert cap <= shadower.calls <= cap + refilled
    assert shadower.sampled == 60
    assert shadower.skipped["budget_rpm"] == 60 - shadower.calls
    assert shadower.judged == shadower.calls
    logged = await _logged(url)
    assert sum(any(v.source.startswith("shadow:") for v in e.verdicts) for e in logged) == (
        shadower.calls
    )


async def test_a_judge_that_is_down_leaves_requests_answered_and_verdicts_missing(
    tmp_path: Path,
    tiny_artifact: Path,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    with ServerThread(FakeJudge().app) as gone:
        down = gone.url  # nothing listens there once the block ends
    upstreams = {"openai": openai_fake[1], "anthropic": anthropic_fake[1], "judge": down}
    shadow = {"fraction": 1.0, "judge": "judge", "max_per_minute": 10_000}
    app, url = _service(tmp_path, tiny_artifact, upstreams, shadow)
    with ServerThread(app) as server:
        answers = await _send(server.url, prompts(40, seed=4), stream_every=4)
        shadower = _shadower(app)
        _idle(shadower)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            metrics = (await client.get("/metrics", headers=admin)).text
    assert [a.status_code for a in answers] == [200] * 40
    assert shadower.calls == 40 and shadower.judged == 0
    assert shadower.missing["judge_failed"] == 40
    assert 'llmtriage_shadow_missing_total{reason="judge_failed"} 40.0' in metrics
    logged = await _logged(url)
    assert len(logged) == 40
    assert not any(e.verdicts for e in logged)
    upstream_calls = Counter(r.body["model"] for r in openai_fake[0].received)
    assert upstream_calls["gpt-mini"] + len(anthropic_fake[0].received) == 80  # served + shadow
