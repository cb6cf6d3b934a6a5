from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from llmtriage.routing import load_routing_config
from llmtriage.scoring.scorer import Scorer
from tests.providers.serving import ServerThread
from tests.providers.upstreams import _anthropic_server, _openai_server, anthropic_fake, openai_fake
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI
from tests.proxy.harness import CLIENT_KEY, ENV, proxy_app, write_config

__all__ = ["_anthropic_server", "_openai_server", "anthropic_fake", "openai_fake"]


@pytest.fixture(scope="session")
def proxy_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_artifact: Path,
    _openai_server: tuple[FakeOpenAI, str],
    _anthropic_server: tuple[FakeAnthropic, str],
) -> Iterator[str]:
    path = write_config(
        tmp_path_factory.mktemp("proxy"), openai=_openai_server[1], anthropic=_anthropic_server[1]
    )
    app = proxy_app(load_routing_config(path), Scorer.load(tiny_artifact), ENV)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def client(proxy_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=proxy_url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10
    ) as sdk:
        yield sdk
