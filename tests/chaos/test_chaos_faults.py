"""Every fault of the fake upstream, on a stream and on a whole answer, over real HTTP:
what the client gets (status, the whole answer of one deployment, or a resumed answer
that reads as one) and that no cut answer ever passes for a complete one.

Twice: with the suite's tight timeouts (fast tests), and with the packaged defaults, no
overrides at all (connect 5 / first token 10 / idle 15 / read 60 s, retries, breakers,
resume as shipped): the faults that wait for a timeout there take as long as it, so
those cases are marked slow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from llmtriage.routing import RoutingConfig, parse_routing_config
from tests.chaos.harness import chaos_config, deployment, running
from tests.chaos.upstream import (
    Act,
    FakeUpstream,
    cut,
    http,
    malformed,
    no_done,
    reset,
    slow,
    stall,
)

Up = dict[str, FakeUpstream]
USER = [{"role": "user", "content": "Name three rivers."}]


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    started: str  # the deployment the headers name
    finished: str  # the deployment that sent the last of it (a resumed stream's trailer)
    headers: httpx.Headers


def ask(url: str, *, stream: bool) -> Answer:
    """One request; a stream must end in [DONE] with no error event, or this fails."""
    body = {"model": "cheap", "messages": USER, "stream": stream}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=90) as r:
        raw = r.read().decode()
    started = r.headers.get("x-llmtriage-deployment", "")
    if r.status_code != 200 or not stream:
        answer = json.loads(raw)
        text = answer["choices"][0]["message"]["content"] if r.status_code == 200 else ""
        return Answer(r.status_code, text, started, started, r.headers)
    lines = [line for line in raw.split("\n") if line]
    assert lines[-1] == "data: [DONE]", f"a stream presented without its end: {lines[-3:]}"
    parts, trailer = [], {}
    for line in lines[:-1]:
        if line.startswith(": "):
            name, _, value = line.removeprefix(": ").partition("=")
            trailer[name] = value
            continue
        chunk = json.loads(line.removeprefix("data: "))
        assert "error" not in chunk, f"an error event in a stream that ended in [DONE]: {chunk}"
        parts += [c["delta"].get("content") or "" for c in chunk["choices"]]
    finished = trailer.get("x-llmtriage-deployment", started)
    return Answer(200, "".join(parts), started, finished, r.headers)


def whole(answer: Answer) -> None:
    """One coherent answer: the reply of the deployment that finished it, word for word."""
    assert answer.status == 200
    assert answer.text == f"answer from {answer.finished}", answer


@dataclass(frozen=True)
class Case:
    act: Callable[[], Act]
    stream: str  # who answers a stream: "a", "b" (fallback) or "a>b" (resumed)
    whole: str  # who answers a whole answer
    timed: bool = False  # waits for a timeout: slow with the packaged defaults


# stall and cut after k = 3 events: the role chunk, "answer", " from" have been sent.
CASES = {
    "500 once": Case(lambda: http(500), stream="a", whole="a"),  # retried
    "429 retry-after": Case(lambda: http(429, retry_after_ms="200"), stream="a", whole="a"),
    "reset": Case(reset, stream="a", whole="a"),  # retried
    "delayed first byte": Case(lambda: slow(12), stream="b", whole="b", timed=True),
    "stall after k": Case(lambda: stall(3), stream="a>b", whole="b", timed=True),
    "cut after k": Case(lambda: cut(3), stream="a>b", whole="a"),  # a whole one: retried
    "malformed chunk": Case(lambda: malformed(2), stream="a", whole="b"),  # a body: moves on
    "no [DONE]": Case(no_done, stream="a", whole="a"),
}


def packaged_config(urls: dict[str, str]) -> RoutingConfig:
    """The same three deployments, and nothing else: every other setting as shipped."""
    cheap = [deployment("a", urls["a"]), deployment("b", urls["b"])]
    strong = [deployment("c", urls["c"], window=200_000)]
    return parse_routing_config(
        {
            "tiers": [
                {"name": "cheap", "deployments": cheap},
                {"name": "strong", "deployments": strong},
            ],
            "classifier": {"enabled": False},
        }
    )


def config_for(setting: str, urls: dict[str, str], **fallback: Any) -> RoutingConfig:
    return chaos_config(urls, fallback=fallback) if setting == "tight" else packaged_config(urls)


def matrix() -> Iterator[Any]:
    for setting in ("tight", "packaged"):
        for name, case in CASES.items():
            for stream in (True, False):
                slow_here = case.timed and setting == "packaged"
                yield pytest.param(
                    setting,
                    name,
                    stream,
                    id=f"{setting}-{name.replace(' ', '_')}-{'stream' if stream else 'whole'}",
                    marks=[pytest.mark.slow] if slow_here else [],
                )


@pytest.mark.parametrize(("setting", "name", "stream"), matrix())
def test_fault(up: Up, urls: dict[str, str], setting: str, name: str, stream: bool) -> None:
    case = CASES[name]
    expected = case.stream if stream else case.whole
    if name == "delayed first byte" and setting == "packaged" and not stream:
        expected = "a"  # no first-token bound on a whole answer: 12 s is within read (60 s)
    up["a"].script.append(case.act())
    with running(config_for(setting, urls)) as url:
        start = time.monotonic()
        answer = ask(url, stream=stream)
    whole(answer)
    first, _, last = expected.partition(">")
    assert answer.started == first and answer.finished == (last or first), answer
    if last:  # resumed: the continuation carried on from what the client had
        assert up[last].received[-1]["messages"][-1]["content"] == "answer from"
    if name == "429 retry-after":
        assert time.monotonic() - start >= 0.2  # it waited for the hint before retrying
    if name == "malformed chunk" and stream:
        assert up["b"].calls == 0  # skipped, not a fallback


@pytest.mark.parametrize("setting", ["tight", "packaged"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_down_at_a_low_request_rate(
    up: Up, urls: dict[str, str], setting: str, stream: bool
) -> None:
    """a is down; a request every 0.2 s, far below any failure rate's min_calls: after its
    failures in a row (5 by default) a is skipped without a call."""
    up["a"].chooser = lambda _: http(503)
    slow_traffic = {"window_s": 1, "min_calls": 10, "failure_rate": 0.5, "cooldown_s": 30}
    seen = []
    with running(config_for(setting, urls, breaker=slow_traffic)) as url:
        for _ in range(6):
            answer = ask(url, stream=stream)
            whole(answer)
            seen.append(answer.headers.get("x-llmtriage-fallbacks"))
            time.sleep(0.2)
        calls = up["a"].calls
        whole(ask(url, stream=stream))
    assert seen[0] == "a=overloaded" and seen[-1] == "a=breaker_open"
    assert up["a"].calls == calls  # skipped: no call at all
