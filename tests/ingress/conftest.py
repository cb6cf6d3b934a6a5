"""The ingress under test: the whole service (create_service: auth policy, shared store)
on loopback, over fake upstreams that speak the real wire formats, called by the
official SDKs. Its routing config is tests/proxy/harness.py's: a cheap tier `mini`
(OpenAI format) and a strong tier `sonnet` (Anthropic), client keys required."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from fastapi import FastAPI

from llmtriage.routing import load_routing_config
from llmtriage.scoring.scorer import Scorer
from llmtriage.server.app import create_service
from llmtriage.server.errors import install_error_handlers
from llmtriage.server.routes import messages, proxy, responses
from llmtriage.server.settings import ServeSettings
from tests.ingress.fakes import ToolAnthropic, ToolOpenAI
from tests.providers.serving import ServerThread
from tests.proxy.harness import CLIENT_KEY, ENV, write_config


@pytest.fixture(scope="session")
def upstreams() -> Iterator[tuple[ToolOpenAI, ToolAnthropic, str, str]]:
    cheap, strong = ToolOpenAI(), ToolAnthropic()
    with ServerThread(cheap.app) as a, ServerThread(strong.app) as b:
        yield cheap, strong, a.url, b.url


@pytest.fixture
def fakes(
    upstreams: tuple[ToolOpenAI, ToolAnthropic, str, str],
) -> tuple[ToolOpenAI, ToolAnthropic]:
    cheap, strong, _, _ = upstreams
    for fake in (cheap, strong):
        fake.received.clear()
        fake.failures.clear()
    strong.stream_error = None
    return cheap, strong


@pytest.fixture(scope="session")
def config_path(
    tmp_path_factory: pytest.TempPathFactory, upstreams: tuple[ToolOpenAI, ToolAnthropic, str, str]
) -> Path:
    _, _, openai_url, anthropic_url = upstreams
    return write_config(
        tmp_path_factory.mktemp("ingress"), openai=openai_url, anthropic=anthropic_url
    )


@pytest.fixture(scope="session")
def service_url(config_path: Path, tiny_artifact: Path) -> Iterator[str]:
    settings = ServeSettings(model=tiny_artifact, routing_config=config_path)
    app = create_service(settings, scorer=Scorer.load(tiny_artifact), env=ENV)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture(scope="session")
def bare_url(config_path: Path, tiny_artifact: Path) -> Iterator[str]:
    """The routers in a bare app (no create_app: no auth policy, no shared store)."""
    scorer = Scorer.load(tiny_artifact)
    app = FastAPI(
        lifespan=proxy.routing_lifespan(
            load_routing_config(config_path), env=ENV, scorer=lambda _: scorer
        )
    )
    install_error_handlers(app)
    for router in (proxy.router, messages.router, responses.router):
        app.include_router(router)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def claude(service_url: str, fakes: object) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=service_url, api_key=CLIENT_KEY, max_retries=0, timeout=10
    ) as sdk:
        yield sdk


@pytest.fixture
def gpt(service_url: str, fakes: object) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=service_url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10
    ) as sdk:
        yield sdk


# the plain fake OpenAI upstream, for tests that need no tool-calling fakes
from tests.providers.upstreams import _openai_server, openai_fake  # noqa: E402, F401
