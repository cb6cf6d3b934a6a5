"""`/v1/stats/...`, the console's data: schemas, figures that add up to what a seeded run
sent, bad windows refused with the OpenAI error body, and the admin key required."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from llmtriage.console.feed import SCORE_ROUTER, latency_bin, latency_bin_edges
from llmtriage.console.views import (
    DecisionsView,
    DeploymentsView,
    ScoresView,
    TrafficView,
    WhatIfView,
    band_shares,
    percentile,
    whatif,
)
from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings
from tests.console.harness import ADMIN, CLIENT, Seeded
from tests.server.helpers import assert_openai_error, serve

SEEDED_REQUESTS = 400
ENDPOINTS = ("traffic", "scores", "deployments", "decisions")


def get(seeded: Seeded, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(seeded.url + path, headers=ADMIN if headers is None else headers, timeout=10)


def ok(seeded: Seeded, path: str, model: type[BaseModel]) -> dict[str, Any]:
    response = get(seeded, path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    model.model_validate(body)  # the documented schema, extra fields forbidden
    return body


def test_traffic_counts_every_decision_of_the_run(seeded: Seeded) -> None:
    body = ok(seeded, "/v1/stats/traffic?window=15m", TrafficView)
    sent = seeded.sent.decisions
    assert body["requests"] == sum(sent.values())
    assert sorted(body["routers"]) == sorted(sent)
    assert sum(p["requests"] for p in body["series"]) == body["requests"]
    assert sum(body["tier_counts"].values()) == body["requests"]
    assert body["store"]["backend"] == "memory"
    for router, n in sent.items():
        one = ok(seeded, f"/v1/stats/traffic?window=1h&router={router}", TrafficView)
        assert one["requests"] == n, router
        assert one["router"] == router


def test_cost_saved_is_baseline_minus_spent_with_the_prices_used(seeded: Seeded) -> None:
    cost = ok(seeded, "/v1/stats/traffic?window=1h&router=auto", TrafficView)["cost"]
    assert 0 < cost["spent_usd"] < cost["baseline_usd"]  # some cheap answers
    assert cost["saved_usd"] == pytest.approx(cost["baseline_usd"] - cost["spent_usd"])
    assert cost["baseline_deployment"] == "sonnet"
    assert {p["deployment"]: p["input_per_mtok"] for p in cost["prices"]} == {
        "mini": 0.15,
        "mini-b": 0.2,
        "sonnet": 3.0,
    }
    assert cost["completions"] > 0 and cost["tokens_in"] > 0


def test_novelty_and_cascade_verdicts(seeded: Seeded) -> None:
    body = ok(seeded, "/v1/stats/traffic?window=1h&router=auto", TrafficView)
    novelty, cascade = body["novelty"], body["cascade"]
    assert 0 < novelty["novel"] < novelty["measured"]
    assert novelty["rate"] == pytest.approx(novelty["novel"] / novelty["measured"])
    verdicts = {(o["verdict"], o["reason"]) for o in cascade["outcomes"]}
    assert ("accepted", "confident") in verdicts
    assert any(v == "escalated" for v, _ in verdicts)
    specials = SEEDED_REQUESTS // 25
    assert cascade["escalations"] >= specials // 2  # every scripted empty answer escalated
    assert cascade["escalation_rate"] == pytest.approx(cascade["escalations"] / cascade["runs"])


def test_scores_histogram_holds_every_classifier_routed_request(seeded: Seeded) -> None:
    body = ok(seeded, "/v1/stats/scores?window=1h&router=auto", ScoresView)
    assert body["bins"] == len(body["counts"]) == 100
    assert sum(body["counts"]) == body["scored"] == sum(body["classifier_tiers"].values())
    assert 0 < body["scored"] < body["requests"]  # rules and named models are not scored
    assert body["thresholds"] == [{"tier": "strong", "cutpoint": 0.5}]
    assert body["fixed_tiers"]["cheap"] > 0  # the classification rule's requests
    quality = body["quality"]
    assert quality["source"] == "artifact"
    assert [(p["threshold"], p["quality"]) for p in quality["points"]] == [
        (0.0, 1.0),
        (0.55, 0.95),
        (0.62, 0.90),
        (1.0, pytest.approx(0.875)),
    ]
    # `all` is the router with the most scores; /v1/score has the artifact's own tiers
    assert ok(seeded, "/v1/stats/scores", ScoresView)["router"] == "auto"
    own = ok(seeded, f"/v1/stats/scores?router={SCORE_ROUTER}", ScoresView)
    assert own["scored"] == seeded.sent.decisions[SCORE_ROUTER]


def test_whatif_moves_shares_and_cost_and_matches_the_current_threshold(seeded: Seeded) -> None:
    now = ok(seeded, "/v1/stats/whatif?window=1h&router=auto&threshold=0.5", WhatIfView)
    assert now["tier_shares"] == pytest.approx(now["current_shares"])
    assert now["usd_per_1k"] == pytest.approx(now["current_usd_per_1k"])
    traffic = ok(seeded, "/v1/stats/traffic?window=1h&router=auto", TrafficView)
    # projected at today's threshold = today's measured shares (scores within a bin aside)
    assert now["tier_shares"]["strong"] == pytest.approx(traffic["tier_shares"]["strong"], abs=0.03)
    higher = ok(seeded, "/v1/stats/whatif?router=auto&threshold=0.7", WhatIfView)
    assert higher["tier_shares"]["strong"] < now["tier_shares"]["strong"]
    assert higher["usd_per_1k"] < now["usd_per_1k"]
    assert higher["quality"] < now["quality"] <= 1.0
    assert higher["yaml"] == "classifier:\n  thresholds: {strong: 0.7000}\n"


def test_deployments_show_retries_fallbacks_breakers_and_latency(seeded: Seeded) -> None:
    body = ok(seeded, "/v1/stats/deployments?window=1h", DeploymentsView)
    rows = {d["name"]: d for d in body["deployments"]}
    assert list(rows) == ["mini", "mini-b", "sonnet"]
    mini = rows["mini"]
    fallbacks = (SEEDED_REQUESTS // 25 + 1) // 2  # the scripted double 500s
    assert mini["failures"] == {"server": 2 * fallbacks}
    assert mini["retries"] == fallbacks and mini["fallbacks"] == fallbacks
    assert rows["mini-b"]["ok"] >= fallbacks
    for row in rows.values():
        assert row["breaker"] == "closed"
        latency = row["latency"]
        assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"]


def test_decisions_newest_first_without_prompts(seeded: Seeded) -> None:
    body = ok(seeded, "/v1/stats/decisions?limit=7", DecisionsView)
    rows = body["decisions"]
    assert len(rows) == 7 and body["source"] == "recent" and body["prompts_logged"] is False
    assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True)
    assert all(r["prompt"] is None and r["outcome"] == "ok" for r in rows)
    auto = ok(seeded, "/v1/stats/decisions?router=mini", DecisionsView)["decisions"]
    assert auto and {r["router"] for r in auto} == {"mini"}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("/v1/stats/traffic?window=2h", "query.window"),
        ("/v1/stats/traffic?window=", "query.window"),
        ("/v1/stats/scores?window=900", "query.window"),
        ("/v1/stats/deployments?window=1w", "query.window"),
        ("/v1/stats/whatif?window=15m&threshold=1.5", "query.threshold"),
        ("/v1/stats/whatif?window=15m", "query.threshold"),
        ("/v1/stats/decisions?limit=0", "query.limit"),
    ],
)
def test_bad_windows_and_parameters_get_an_error_body(
    seeded: Seeded, query: str, param: str
) -> None:
    error = assert_openai_error(get(seeded, query), 422)
    assert error["param"] == param


def test_whatif_of_an_unknown_tier_is_refused(seeded: Seeded) -> None:
    error = assert_openai_error(get(seeded, "/v1/stats/whatif?threshold=0.5&tier=nope"), 422)
    assert error["code"] == "unknown_tier"


async def test_a_window_longer_than_the_retention_is_refused(tiny_artifact: Path) -> None:
    settings = ServeSettings(model=tiny_artifact, stats_retention_s=3600)
    async with serve(create_app(settings)) as client:
        assert (await client.get("/v1/stats/traffic?window=1h")).status_code == 200
        error = assert_openai_error(await client.get("/v1/stats/traffic?window=1d"), 422)
    assert error["code"] == "window_too_long" and error["param"] == "window"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_admin_key_is_required(seeded: Seeded, endpoint: str) -> None:
    path = f"/v1/stats/{endpoint}"
    assert_openai_error(get(seeded, path, headers={}), 401)
    assert_openai_error(get(seeded, path, headers={"authorization": "Bearer wrong"}), 401)
    assert_openai_error(get(seeded, path, headers=CLIENT), 403)
    assert get(seeded, path).status_code == 200


def test_the_page_is_open_holds_no_data_and_pins_its_sources(seeded: Seeded) -> None:
    page = get(seeded, "/console", headers={})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("console.js", "console.css"):
        assert get(seeded, f"/console/static/{name}", headers={}).status_code == 200
    assert_openai_error(get(seeded, "/console/static/secrets.txt", headers={}), 404)


async def test_the_stats_group_policy_applies_to_the_console_endpoints(
    tiny_artifact: Path,
) -> None:
    admin = hashlib.sha256(b"adm").hexdigest()
    opened = ServeSettings(model=tiny_artifact, admin_key_hashes=[admin], auth={"stats": "open"})
    async with serve(create_app(opened)) as client:
        for endpoint in (*ENDPOINTS, "whatif?threshold=0.5&router=/v1/score"):
            response = await client.get(f"/v1/stats/{endpoint}")
            assert response.status_code == 200, (endpoint, response.text)


# ----------------------------------------------------------------------------- pure parts


def test_band_shares_split_bins_evenly() -> None:
    counts = [0.0] * 100
    counts[50] = 10.0  # scores in [0.50, 0.51)
    assert band_shares(counts, [0.505]) == pytest.approx([0.5, 0.5])
    assert band_shares(counts, [0.4]) == pytest.approx([0.0, 1.0])
    assert band_shares(counts, [0.6]) == pytest.approx([1.0, 0.0])
    assert band_shares([0.0] * 100, [0.5]) == [0.0, 0.0]


def test_whatif_clamps_between_neighbouring_thresholds() -> None:
    counts = [1.0] * 100
    scores = ScoresView.model_validate(
        {
            "window": "1h",
            "router": "auto",
            "routers": ["auto"],
            "bins": 100,
            "counts": counts,
            "scored": 100,
            "requests": 100,
            "tiers": ["cheap", "mid", "strong"],
            "thresholds": [{"tier": "mid", "cutpoint": 0.3}, {"tier": "strong", "cutpoint": 0.6}],
            "classifier_tiers": {"cheap": 30, "mid": 30, "strong": 40},
            "fixed_tiers": {"cheap": 0, "mid": 0, "strong": 0},
            "cost_model": {
                "tokens_in_mean": 1e6,
                "tokens_out_mean": 0,
                "tiers": [
                    {"tier": "cheap", "deployment": "a", "usd_per_request": 1.0},
                    {"tier": "mid", "deployment": "b", "usd_per_request": 2.0},
                    {"tier": "strong", "deployment": "c", "usd_per_request": 4.0},
                ],
                "baseline_tier": "strong",
            },
            "quality": {"source": "none", "note": "", "points": []},
        }
    )
    view = whatif(scores, tier="strong", threshold=0.1)
    assert view.threshold == 0.3  # not below mid's
    assert view.tier_shares == pytest.approx({"cheap": 0.3, "mid": 0.0, "strong": 0.7})
    assert view.usd_per_1k == pytest.approx(1000 * (0.3 * 1 + 0.7 * 4))
    assert view.all_strong_usd_per_1k == pytest.approx(4000)
    assert view.quality is None  # the curve is for one cut-point
    with pytest.raises(ValueError, match="no threshold"):
        whatif(scores, tier="cheap", threshold=0.5)


def test_latency_bins_and_percentiles() -> None:
    assert latency_bin(0.0) == 0 and latency_bin(float("nan")) == 0
    for seconds in (0.002, 0.05, 1.3, 40.0):
        low, high = latency_bin_edges(latency_bin(seconds))
        assert low <= seconds * 1000 < high
    counts = [0.0] * 36
    counts[latency_bin(0.05)] = 99
    counts[latency_bin(2.0)] = 1
    p50 = percentile(counts, 0.5)
    assert p50 is not None and 35 < p50 < 71
    p99 = percentile(counts, 0.99)
    assert p99 is not None and p99 < 71
    p100 = percentile(counts, 1.0)
    assert p100 is not None and p100 > 1400
    assert percentile([0.0] * 36, 0.5) is None
