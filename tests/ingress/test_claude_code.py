"""A Claude-Code-shaped session (tests/ingress/claude_code.py) against the shipped example
config (examples/claude-code/routing.yaml), over real HTTP with the `anthropic` SDK:
background requests and short tool-result turns land on the cheap tier, long turns on
the strong tier, each decision in the x-llmtriage-* headers, every body passed through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from llmtriage.scoring.scorer import Scorer
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.ingress import claude_code as cc
from tests.ingress.fakes import ToolAnthropic, ToolOpenAI
from tests.providers.serving import ServerThread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "claude-code" / "routing.yaml"
ENV = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "OPENAI_API_KEY": "sk-openai-test-key"}
Fakes = tuple[ToolOpenAI, ToolAnthropic]


@pytest.fixture(scope="module")
def claude_code_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_artifact: Path,
    upstreams: tuple[ToolOpenAI, ToolAnthropic, str, str],
) -> Iterator[str]:
    _, _, openai_url, anthropic_url = upstreams
    text = EXAMPLE.read_text()
    text = text.replace("https://api.anthropic.com", anthropic_url)
    text = text.replace("https://api.openai.com/v1", openai_url + "/v1")
    config = tmp_path_factory.mktemp("claude-code") / "routing.yaml"
    config.write_text(text)
    settings = ServeSettings(model=tiny_artifact, routing_config=config)
    app = create_service(settings, scorer=Scorer.load(tiny_artifact), env=ENV)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def session(claude_code_url: str, fakes: Fakes) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=claude_code_url,
        api_key="sk-ant-whatever-claude-code-holds",
        max_retries=0,
        default_headers={"anthropic-beta": cc.BETA},
    ) as sdk:
        yield sdk


def streamed(sdk: anthropic.Anthropic, body: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The answer's headers and its event names, streamed as Claude Code streams."""
    request = {k: v for k, v in body.items() if k != "stream"}
    with sdk.messages.with_streaming_response.create(stream=True, **request) as raw:
        headers = dict(raw.headers)
        names = [
            line.removeprefix("event: ")
            for line in raw.read().decode().splitlines()
            if line.startswith("event: ")
        ]
    return headers, names


LONG_ASK = (
    "Here is the design doc for the new billing service. Read it carefully, find the "
    "race conditions in the proposed invoice state machine, and propose a migration plan "
    "that keeps old invoices valid. " * 60
)
SMALL_FILE = "def add(a, b):\n    return a + b\n"
BIG_FILE = "class Ledger:\n    def post(self, entry):\n        self.entries.append(entry)\n" * 120


def test_a_claude_code_session_routes_across_two_tiers(
    session: anthropic.Anthropic, fakes: Fakes
) -> None:
    assert len(cc.TOOLS) >= 20
    turns: list[tuple[str, dict[str, Any], str, str]] = []
    title = cc.title_request("Fix the race in the invoice state machine")
    turns.append(("title", title, "cheap", "small-fast-model"))
    conversation: list[dict[str, Any]] = [cc.user(LONG_ASK)]
    turns.append(("long ask", cc.main_request(list(conversation)), "strong", "long-turns-strong"))
    conversation += [
        cc.tool_call("toolu_01", "Read", {"file_path": "/home/dev/app/util.py"}),
        cc.tool_result("toolu_01", SMALL_FILE),
    ]
    turns.append(("short tool result", cc.main_request(list(conversation)), "cheap",
                  "short-tool-results"))  # fmt: skip
    conversation += [
        cc.tool_call("toolu_02", "Read", {"file_path": "/home/dev/app/ledger.py"}),
        cc.tool_result("toolu_02", BIG_FILE),
    ]
    turns.append(("long tool result", cc.main_request(list(conversation)), "strong",
                  "long-turns-strong"))  # fmt: skip
    for name, body, tier, rule in turns:
        headers, events = streamed(session, body)
        assert headers["x-llmtriage-tier"] == tier, name
        assert headers["x-llmtriage-rule"] == rule, name
        assert headers["x-llmtriage-reason"] == "rule", name
        expected = {"cheap": "haiku", "strong": "sonnet"}[tier]
        assert headers["x-llmtriage-deployment"] == expected, name
        assert events[0] == "message_start" and events[-1] == "message_stop", name
        received = fakes[1].received[-1]
        model = {"cheap": "claude-haiku-4-5", "strong": "claude-sonnet-4-5"}[tier]
        assert received.body == {**body, "model": model}, name  # as Claude Code sent it
        assert received.headers["anthropic-beta"] == cc.BETA, name
    assert fakes[0].received == []  # the OpenAI-format fallback was not needed

    # A short text turn has no rule: the classifier decides, and says so.
    conversation += [{"role": "assistant", "content": "Done."}, cc.user("Thanks, run the tests.")]
    headers, _ = streamed(session, cc.main_request(conversation))
    assert headers["x-llmtriage-reason"] == "classifier"
    assert "x-llmtriage-score" in headers and "x-llmtriage-rule" not in headers


def test_a_failing_cheap_deployment_falls_back_to_the_translated_one(
    session: anthropic.Anthropic, fakes: Fakes
) -> None:
    for _ in range(2):  # the call and its one retry
        fakes[1].fail_next(500, {"type": "error", "error": {"type": "api_error", "message": "x"}})
    body = cc.main_request([cc.user("Fix it"), cc.tool_call("toolu_9", "LS", {"path": "."}),
                            cc.tool_result("toolu_9", "a.py b.py")])  # fmt: skip
    headers, events = streamed(session, body)
    assert headers["x-llmtriage-deployment"] == "gpt-mini"
    assert headers["x-llmtriage-fallbacks"].startswith("haiku=")
    assert events[:2] == ["message_start", "ping"] and events[-1] == "message_stop"
    sent = fakes[0].received[-1].body  # translated: 23 function tools, the tool turn as messages
    assert len(sent["tools"]) == len(cc.TOOLS)
    assert sent["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "toolu_9",
        "content": "a.py b.py",
    }


def test_the_small_fast_model_counts_tokens_exactly(
    session: anthropic.Anthropic, fakes: Fakes
) -> None:
    raw = session.messages.with_raw_response.count_tokens(
        model=cc.SMALL_FAST_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-llmtriage-token-count"] == "exact"
    assert raw.headers["x-llmtriage-tier"] == "cheap"
