"""The cascade's telemetry through the full service (create_service): an escalation is
counted once in /v1/stats and /metrics, and the spend covers both of its calls.

Same fake upstreams and cascade config as test_proxy_cascade.py; the app runs
in-process with its lifespan (store, aggregates, metrics registry of its own).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI, openai_usage
from tests.proxy.harness import CLIENT_KEY, ENV
from tests.proxy.prompts import user
from tests.proxy.test_proxy_cascade import (
    MATHS_IN_BAND,
    SCRIPTED_CHEAP_COST,
    cascade_config,
    cost,
    serve_next,
    strong_cost,
)
from tests.server.helpers import serve

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def metric(text: str, line_start: str) -> float:
    """The value of the one /metrics sample whose line starts with `line_start`."""
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    assert len(values) == 1, (line_start, values)
    return values[0]


async def test_escalation_is_counted_once_and_costs_both_calls(
    tmp_path: Path,
    tiny_artifact: Path,
    openai_fake: tuple[FakeOpenAI, str],
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    (cheap, openai_url), (strong, anthropic_url) = openai_fake, anthropic_fake
    config = cascade_config(tmp_path, openai=openai_url, anthropic=anthropic_url)
    # Stats and metrics open: with client keys configured they default to an admin key.
    settings = ServeSettings(
        model=tiny_artifact,
        routing_config=config,
        stats_flush_s=0.05,
        auth={"stats": "open", "metrics": "open"},
    )
    app = create_service(settings, env=ENV)
    body = {"model": "auto", "messages": user(MATHS_IN_BAND)}

    async with serve(app) as client:
        serve_next(cheap, "")  # an empty cheap answer: doubted, escalated
        escalated = await client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert escalated.status_code == 200, escalated.text
        assert escalated.headers["x-llmtriage-cascade"] == "escalated"
        escalated_cost = SCRIPTED_CHEAP_COST + strong_cost(strong)
        assert Decimal(escalated.headers["x-llmtriage-cost"]) == escalated_cost

        accepted = await client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert accepted.status_code == 200, accepted.text
        assert accepted.headers["x-llmtriage-cascade"] == "accepted"
        prompt, out = openai_usage(cheap.received[-1].body, "Hello from gpt-mini fake")
        accepted_cost = cost(prompt, out, "0.15", "0.60")
        assert Decimal(accepted.headers["x-llmtriage-cost"]) == accepted_cost
        assert len(cheap.received) == 2 and len(strong.received) == 1

        stats = (await client.get("/v1/stats")).json()  # totals() flushes this replica first
        metrics = (await client.get("/metrics")).text

    routing = stats["routing"]
    assert routing["escalations"] == 1
    assert routing["completions"] == 3  # the doubted cheap call counts, as does its retry
    assert routing["tiers"] == {"strong": 2}  # both requests were decided for strong
    spent = escalated_cost + accepted_cost
    assert stats["cost_usd"]["spent"] == pytest.approx(float(spent))

    escalations = 'llmtriage_routing_escalations_total{from_tier="cheap",to_tier="strong"}'
    assert metric(metrics, escalations) == 1.0
    cheap_spent = metric(metrics, 'llmtriage_cost_spent_usd_total{tier="cheap"}')
    strong_spent = metric(metrics, 'llmtriage_cost_spent_usd_total{tier="strong"}')
    assert cheap_spent == pytest.approx(float(SCRIPTED_CHEAP_COST + accepted_cost))
    assert strong_spent == pytest.approx(float(strong_cost(strong)))
