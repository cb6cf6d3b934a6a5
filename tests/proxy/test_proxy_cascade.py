"""The cascade through the proxy: cheap tier first, strong tier when the answer is doubtful.

Same fakes and SDK as the other proxy tests, with a config whose cascade runs on
scores in [0.5, 0.8] (the tiny artifact's cut is 0.5): MATHS_IN_BAND cascades, MATHS
(≈ 0.84) goes straight to the strong tier. The checks are the non-verifier ones, so no
trained verifier is needed; a bad cheap answer is scripted with `serve_next`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from llmtriage.errors import ConfigError
from llmtriage.execution.cascade import load_confidence
from llmtriage.routing import load_routing_config
from llmtriage.scoring.scorer import Scorer
from tests.providers.serving import ServerThread
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI, anthropic_usage, openai_usage
from tests.proxy.harness import CLIENT_KEY, ENV, proxy_app, write_config
from tests.proxy.prompts import MATHS, SHORT, user

MILLION = Decimal(1_000_000)
MATHS_IN_BAND = MATHS[:200]  # scores ≈ 0.77: strong tier, inside the band
RULE = "  - {id: realtime, match: {headers: {x-request-type: realtime}}, action: no_cascade}\n"
CASCADE = """\
cascade:
  enabled: true
  cheap_tier: cheap
  strong_tier: strong
  signals: [empty, truncated, refusal]
  threshold: 0.5
  band: [0.5, 0.8]
"""


def cascade_config(directory: Path, *, openai: str, anthropic: str) -> Path:
    """The proxy tests' config with a no_cascade rule (last in `rules`) and a cascade."""
    path = write_config(directory, openai=openai, anthropic=anthropic)
    path.write_text(path.read_text().replace("auth:\n", RULE + "auth:\n") + CASCADE)
    return path


@pytest.fixture(scope="module")
def cascade_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_artifact: Path,
    _openai_server: tuple[FakeOpenAI, str],
    _anthropic_server: tuple[FakeAnthropic, str],
) -> Iterator[str]:
    path = cascade_config(
        tmp_path_factory.mktemp("cascade"),
        openai=_openai_server[1],
        anthropic=_anthropic_server[1],
    )
    app = proxy_app(load_routing_config(path), Scorer.load(tiny_artifact), ENV)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def fakes(
    openai_fake: tuple[FakeOpenAI, str], anthropic_fake: tuple[FakeAnthropic, str]
) -> tuple[FakeOpenAI, FakeAnthropic]:
    return openai_fake[0], anthropic_fake[0]


@pytest.fixture
def sdk(cascade_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=cascade_url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10
    ) as client:
        yield client


def serve_next(fake: FakeOpenAI, content: str, finish_reason: str = "stop") -> None:
    """Script the cheap tier's next (non-streamed) answer."""
    message = {"role": "assistant", "content": content, "refusal": None}
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57},
    }
    fake.fail_next(200, body)


def cost(prompt: int, completion: int, price_in: str, price_out: str) -> Decimal:
    return (prompt * Decimal(price_in) + completion * Decimal(price_out)) / MILLION


def strong_cost(fake: FakeAnthropic) -> Decimal:
    body = fake.received[-1].body
    prompt, out = anthropic_usage(body, FakeAnthropic.reply_for(body))
    return cost(prompt, out, "3", "15")


SCRIPTED_CHEAP_COST = cost(50, 7, "0.15", "0.60")


def test_confident_cheap_answer_is_served(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=user(MATHS_IN_BAND))
    completion = raw.parse()
    assert len(cheap.received) == 1 and strong.received == []
    h = raw.headers
    assert h["x-llmtriage-cascade"] == "accepted" and "x-llmtriage-escalation-reason" not in h
    assert h["x-llmtriage-tier"] == "cheap" and h["x-llmtriage-deployment"] == "mini"
    assert h["x-llmtriage-reason"] == "classifier" and 0.5 <= float(h["x-llmtriage-score"]) <= 0.8
    assert completion.choices[0].message.content == "Hello from gpt-mini fake"
    prompt, out = openai_usage(cheap.received[0].body, "Hello from gpt-mini fake")
    assert Decimal(h["x-llmtriage-cost"]) == cost(prompt, out, "0.15", "0.60")
    assert h["x-llmtriage-attempts"] == "1"


@pytest.mark.parametrize(
    ("content", "finish", "reason"),
    [
        ("", "stop", "empty"),
        ("The answer is", "length", "truncated"),
        ("I'm sorry, but I can't help with that.", "stop", "refusal"),
    ],
)
def test_doubtful_cheap_answer_escalates(
    sdk: openai.OpenAI,
    fakes: tuple[FakeOpenAI, FakeAnthropic],
    content: str,
    finish: str,
    reason: str,
) -> None:
    cheap, strong = fakes
    serve_next(cheap, content, finish)
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=user(MATHS_IN_BAND))
    completion = raw.parse()
    assert len(cheap.received) == 1 and len(strong.received) == 1
    h = raw.headers
    assert h["x-llmtriage-cascade"] == "escalated"
    assert h["x-llmtriage-escalation-reason"].startswith(reason)
    assert h["x-llmtriage-tier"] == "strong" and h["x-llmtriage-model"] == "claude-sonnet"
    assert completion.model == "claude-sonnet"
    assert completion.choices[0].message.content == "Bonjour from claude-sonnet fake"
    assert Decimal(h["x-llmtriage-cost"]) == SCRIPTED_CHEAP_COST + strong_cost(strong)
    assert h["x-llmtriage-attempts"] == "2"


def test_failed_cheap_call_escalates(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    cheap.fail_next(500, {"error": {"message": "boom", "type": "server_error"}})
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=user(MATHS_IN_BAND))
    assert raw.headers["x-llmtriage-cascade"] == "escalated"
    assert raw.headers["x-llmtriage-escalation-reason"] == "cheap_failed"
    assert Decimal(raw.headers["x-llmtriage-cost"]) == strong_cost(strong)
    assert raw.headers["x-llmtriage-fallbacks"] == "mini=server"


def test_no_cascade_rule_skips_the_cheap_call(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto",
        messages=user(MATHS_IN_BAND),
        extra_headers={"x-request-type": "realtime"},
    )
    assert cheap.received == [] and len(strong.received) == 1
    assert "x-llmtriage-cascade" not in raw.headers
    assert raw.headers["x-llmtriage-tier"] == "strong"


@pytest.mark.parametrize("text", [MATHS, SHORT], ids=["above-band", "cheap-tier"])
def test_outside_the_band_or_tier_no_cascade(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic], text: str
) -> None:
    cheap, strong = fakes
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=user(text))
    assert "x-llmtriage-cascade" not in raw.headers
    assert len(cheap.received) + len(strong.received) == 1


def test_route_reports_the_cascade(cascade_url: str) -> None:
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "auto", "messages": user(MATHS_IN_BAND)}
    decision = httpx.post(cascade_url + "/v1/route", json=body, headers=auth).json()
    assert decision["cascade"] is True and decision["tier"] == "strong"
    realtime = auth | {"x-request-type": "realtime"}
    assert (
        httpx.post(cascade_url + "/v1/route", json=body, headers=realtime).json()["cascade"]
        is False
    )


def test_stream_accepted_replays_the_cheap_answer(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto",
        messages=user(MATHS_IN_BAND),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-llmtriage-cascade"] == "accepted"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from gpt-mini fake"
    assert cheap.received[0].body.get("stream") is False and strong.received == []
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == openai_usage(
        cheap.received[0].body, text
    )


def test_stream_escalated_streams_the_strong_tier(
    sdk: openai.OpenAI, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    serve_next(cheap, "")
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=user(MATHS_IN_BAND), stream=True
    )
    assert raw.headers["x-llmtriage-cascade"] == "escalated"
    assert raw.headers["x-llmtriage-model"] == "claude-sonnet"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour from claude-sonnet fake"
    assert len(cheap.received) == 1 and strong.received[0].body.get("stream") is True


def test_stream_escalated_cost_covers_both_calls(
    cascade_url: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    cheap, strong = fakes
    serve_next(cheap, "")
    body = {"model": "auto", "messages": user(MATHS_IN_BAND), "stream": True}
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.stream(
        "POST", cascade_url + "/v1/chat/completions", json=body, headers=auth, timeout=10
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    spent = Decimal(lines[-2].removeprefix(": x-llmtriage-cost="))
    assert spent == SCRIPTED_CHEAP_COST + strong_cost(strong)


@pytest.mark.parametrize(
    ("cascade", "field"),
    [
        ("cascade: {enabled: true, cheap_tier: tiny, strong_tier: strong}", "cascade.cheap_tier"),
        ("cascade: {enabled: true, cheap_tier: cheap, strong_tier: big}", "cascade.strong_tier"),
        ("cascade: {enabled: true, band: [0.9, 0.1]}", "cascade"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, cascade: str, field: str) -> None:
    path = write_config(tmp_path, openai="http://x", anthropic="http://y")
    path.write_text(path.read_text() + cascade + "\n")
    with pytest.raises(ConfigError) as info:
        load_routing_config(path)
    assert field in str(info.value) and str(path) in str(info.value)


def test_missing_verifier_names_the_path_and_make_target(tmp_path: Path) -> None:
    path = write_config(tmp_path, openai="http://x", anthropic="http://y")
    extra = "cascade: {enabled: true, signals: [empty, verifier], verifier_path: nowhere}\n"
    path.write_text(path.read_text().replace("auth:", extra + "auth:"))
    config = load_routing_config(path)
    with pytest.raises(ConfigError, match=r"cascade.verifier_path: .*nowhere.*make verifier"):
        load_confidence(config, None)  # what build_routing runs at start-up
