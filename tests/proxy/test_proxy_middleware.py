"""A middleware a user adds sees every endpoint, and a Depends a user adds is solved.

The scoring and proxy routes skip parts of FastAPI for speed (server/fast_score.py,
server/routes/direct.py); these tests hold them to the rule that nothing a user adds
to the app or a route is skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import openai
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from llmtriage.providers.types import ChatRequest
from llmtriage.scoring.scorer import Scorer
from llmtriage.server.app import create_service
from llmtriage.server.errors import install_error_handlers
from llmtriage.server.routes.proxy import ProxyRoute, Routing
from llmtriage.server.routes.score import JSONBodyRoute, ScoreItem
from llmtriage.server.settings import ServeSettings
from tests.providers.serving import ServerThread
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI
from tests.proxy.harness import CLIENT_KEY, ENV, write_config

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}


class Recorder:
    """A pure-ASGI middleware that notes every HTTP path it is called for."""

    def __init__(self, app: ASGIApp, *, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def service(
    tmp_path: Path,
    tiny_artifact: Path,
    _openai_server: tuple[FakeOpenAI, str],
    _anthropic_server: tuple[FakeAnthropic, str],
) -> FastAPI:
    path = write_config(tmp_path, openai=_openai_server[1], anthropic=_anthropic_server[1])
    settings = ServeSettings(model=tiny_artifact, routing_config=path)
    return create_service(settings, scorer=Scorer.load(tiny_artifact), env=ENV)


def _call_every_endpoint(url: str) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        assert http.post("/v1/score", json={"prompt": "What is 2 + 2?"}).status_code == 200
        assert http.post("/v1/route", json=CHAT).status_code == 200
    with openai.OpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0) as sdk:
        sdk.chat.completions.create(model="auto", messages=CHAT["messages"])  # type: ignore[arg-type]
        chunks = sdk.chat.completions.create(
            model="auto",
            messages=CHAT["messages"],  # type: ignore[arg-type]
            stream=True,
        )
        assert list(chunks)


def test_an_added_middleware_sees_score_route_and_chat_completions(
    service: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    service.add_middleware(Recorder, seen=seen)
    with caplog.at_level(logging.INFO, logger="llmtriage.server"), ServerThread(service) as server:
        _call_every_endpoint(server.url)
    assert seen.count("/v1/score") == 1  # the fast path stood aside
    assert seen.count("/v1/route") == 1
    assert seen.count("/v1/chat/completions") == 2
    assert "fast /v1/score path off" in caplog.text and "Recorder" in caplog.text


def test_cors_added_by_the_user_answers_on_score(service: FastAPI) -> None:
    service.add_middleware(CORSMiddleware, allow_origins=["https://console.example"])
    with ServerThread(service) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(
            "/v1/score",
            json={"prompt": "What is 2 + 2?"},
            headers={**AUTH, "origin": "https://console.example"},
        )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://console.example"


def test_the_fast_path_stays_on_when_nothing_was_added(service: FastAPI) -> None:
    with ServerThread(service) as server:
        _call_every_endpoint(server.url)
    assert getattr(service, "fast_score", None) is not None


async def _tag(request: Request) -> str:
    return request.headers.get("x-tag", "untagged")


Tag = Annotated[str, Depends(_tag)]


def _depends_app(route_dependency: list[str]) -> FastAPI:
    """A route of each fast route class with one Depends more than they short-cut, and a
    router-level dependency that records that it ran."""

    async def ran() -> None:
        route_dependency.append("ran")

    score_router = APIRouter(route_class=JSONBodyRoute, dependencies=[Depends(ran)])
    proxy_router = APIRouter(route_class=ProxyRoute)

    @score_router.post("/score-tagged")
    async def score_tagged(body: ScoreItem, request: Request, tag: Tag) -> Response:
        return Response(f"{tag}:{body.text()}")

    @proxy_router.post("/chat-tagged")
    async def chat_tagged(
        body: ChatRequest, request: Request, service: Routing, tag: Tag
    ) -> dict[str, Any]:
        return {"tag": tag, "model": body.model, "deployments": len(service.deployments)}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(score_router)
    app.include_router(proxy_router)
    return app


@pytest.fixture
def depends_url(service: FastAPI) -> Iterator[tuple[str, list[str]]]:
    ran: list[str] = []
    app = _depends_app(ran)
    with ServerThread(service):  # its lifespan opens the routing service the app borrows
        app.state.routing = service.state.routing
        with ServerThread(app) as server:
            yield server.url, ran


def test_a_depends_added_to_a_fast_route_is_solved(depends_url: tuple[str, list[str]]) -> None:
    url, ran = depends_url
    with httpx.Client(base_url=url, headers={**AUTH, "x-tag": "t1"}, timeout=10) as http:
        scored = http.post("/score-tagged", json={"prompt": "hello"})
        assert ran == ["ran"]  # the router-level dependency
        chat = http.post("/chat-tagged", json=CHAT)
        bad = http.post("/score-tagged", json={"prompt": ""})
    assert scored.status_code == 200 and scored.text == "t1:hello"
    assert chat.status_code == 200 and chat.json() == {
        "tag": "t1",
        "model": "auto",
        "deployments": 3,
    }
    assert bad.status_code == 422 and "error" in bad.json()  # still the OpenAI-shaped body
