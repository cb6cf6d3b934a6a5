"""A real service (create_service) on loopback, fed a seeded run of routed requests
through the fake OpenAI and Anthropic servers: what the console tests read."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmtriage.console.feed import SCORE_ROUTER
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.artifacts import make_tiny_artifact
from tests.providers.serving import ServerThread
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI
from tests.proxy.harness import ENV
from tests.proxy.prompts import MATHS, SHORT
from tests.proxy.test_proxy_cascade import MATHS_IN_BAND, serve_next

ADMIN_KEY = "console-admin-key"
CLIENT_KEY = "console-client-key"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
CLIENT = {"authorization": f"Bearer {CLIENT_KEY}"}

CONFIG = """\
tiers:
  - name: cheap
    deployments:
      - {{name: mini, provider: openai, model: gpt-mini, base_url: "{openai}/v1",
         api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 0.15, output_price_per_mtok: 0.6,
         context_window: 128000}}
      - {{name: mini-b, provider: openai, model: gpt-mini-b, base_url: "{openai}/v1",
         api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 0.2, output_price_per_mtok: 0.8,
         context_window: 128000}}
  - name: strong
    deployments:
      - {{name: sonnet, provider: anthropic, model: claude-sonnet, base_url: "{anthropic}",
         api_key_env: TEST_ANTHROPIC_KEY, input_price_per_mtok: 3, output_price_per_mtok: 15,
         context_window: 200000}}
rules:
  - {{id: classification, match: {{headers: {{x-request-type: classification}}}},
     action: route_to_tier, tier: cheap}}
auth:
  api_key_hashes: [{client}]
cascade: {{enabled: true, cheap_tier: cheap, strong_tier: strong,
  signals: [empty, truncated, refusal], threshold: 0.5, band: [0.5, 0.8]}}
fallback:
  enabled: true
  max_retries: 1
  backoff: {{base_s: 0.001, max_s: 0.005}}
  breaker: {{consecutive_failures: 1000, min_calls: 1000}}
"""
WORDS = ("the", "of", "a", "proof", "integral", "sum", "limit", "city", "river", "capital", "prime")


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="session")
def console_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny artifact with an evaluation for the what-if's quality curve (operating
    points and held-out quality, as `llmtriage train` writes them) and a novelty model."""
    path = make_tiny_artifact(tmp_path_factory.mktemp("console") / "tiny", familiar=(SHORT,))
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["thresholds"]["operating_points"] = {"quality_0.95": 0.55, "quality_0.90": 0.62}
    manifest["metrics"] = {"held_out": {"mmlu": {"n": 100, "q_weak": 0.7, "q_strong": 0.8}}}
    manifest_path.write_text(json.dumps(manifest))
    return path


def write_config(directory: Path, *, openai: str, anthropic: str) -> Path:
    path = directory / "routing.yaml"
    path.write_text(CONFIG.format(openai=openai, anthropic=anthropic, client=sha(CLIENT_KEY)))
    return path


def prompt(rng: random.Random) -> str:
    """Short plain questions (cheap) to long maths (strong), spread over the scores."""
    kind = rng.random()
    if kind < 0.15:
        return SHORT  # familiar to the novelty model: not novel
    if kind < 0.45:
        return MATHS[: rng.randint(40, len(MATHS))]
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) + "?"


@dataclass
class Sent:
    """What the seeding run sent, by router ("auto", a named model, /v1/score)."""

    decisions: Counter[str] = field(default_factory=Counter)
    answered: int = 0


def seed(url: str, openai: FakeOpenAI, *, requests: int, seed: int = 20, threads: int = 4) -> Sent:
    """`requests` routed requests, a seeded mix: chat completions (whole and streamed),
    /v1/route, /v1/score, rule-routed and named-model requests. One in 25 is special and
    sent alone first: two upstream 500s before it (a retry, then a fallback to the next
    deployment), or an empty cheap answer (a cascade escalation)."""
    rng = random.Random(seed)
    sent = Sent()
    specials = requests // 25
    with httpx.Client(base_url=url, timeout=30, headers=CLIENT) as http:
        for k in range(specials):
            if k % 2 == 0:
                error = {"error": {"message": "overloaded", "type": "server_error"}}
                openai.fail_next(500, error)
                openai.fail_next(500, error)
                text = SHORT
            else:
                serve_next(openai, "")  # doubted by the cascade: escalated
                text = MATHS_IN_BAND
            body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
            response = http.post("/v1/chat/completions", json=body)
            assert response.status_code == 200, response.text
            sent.decisions["auto"] += 1
            sent.answered += 1
    jobs: list[tuple[str, dict[str, Any], dict[str, str], str]] = []
    for i in range(requests - specials):
        text = prompt(rng)
        messages = [{"role": "user", "content": text}]
        kind = rng.random()
        headers = dict(CLIENT)
        if kind < 0.1:
            jobs.append(("/v1/score", {"prompt": text}, headers, SCORE_ROUTER))
            continue
        if kind < 0.2:
            jobs.append(("/v1/route", {"model": "auto", "messages": messages}, headers, "auto"))
            continue
        model = "mini" if kind < 0.25 else "auto"
        if 0.25 <= kind < 0.3:
            headers["x-request-type"] = "classification"
        body: dict[str, Any] = {"model": model, "messages": messages}
        if i % 7 == 0:
            body["stream"] = True
        jobs.append(("/v1/chat/completions", body, headers, model))

    def run(chunk: list[tuple[str, dict[str, Any], dict[str, str], str]]) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for path, body, headers, _ in chunk:
                response = http.post(path, json=body, headers=headers)
                assert response.status_code == 200, response.text

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [jobs[k::threads] for k in range(threads)]))
    for path, _, _, router in jobs:
        sent.decisions[router] += 1
        sent.answered += path == "/v1/chat/completions"
    return sent


@dataclass
class Seeded:
    url: str
    sent: Sent


@pytest.fixture(scope="module")
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    console_artifact: Path,
    _openai_server: tuple[FakeOpenAI, str],
    _anthropic_server: tuple[FakeAnthropic, str],
) -> Iterator[Seeded]:
    """The service after a seeded run; a module sets `SEEDED_REQUESTS` for its size."""
    (openai, openai_url), (_, anthropic_url) = _openai_server, _anthropic_server
    config = write_config(
        tmp_path_factory.mktemp("console"), openai=openai_url, anthropic=anthropic_url
    )
    settings = ServeSettings(
        model=console_artifact,
        routing_config=config,
        admin_key_hashes=[sha(ADMIN_KEY)],
        stats_flush_s=0.05,
        cache_ttl_s=0,  # every request scored: the counts below are exact
        rate_limit_rps=0,  # the seeding run outpaces a client's default limit
    )
    app = create_service(settings, env=ENV)
    size = int(getattr(request.module, "SEEDED_REQUESTS", 400))
    with ServerThread(app) as server:
        openai.failures.clear()
        sent = seed(server.url, openai, requests=size)
        openai.failures.clear()
        yield Seeded(server.url, sent)
