from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings
from tests.server.helpers import serve

AppFactory = Callable[..., FastAPI]  # make_app(**settings) -> app over the tiny artifact


@pytest.fixture
def make_app(tiny_artifact: Path) -> AppFactory:
    """create_app over the tiny artifact; keyword arguments become settings."""

    def build(**settings: Any) -> FastAPI:
        return create_app(ServeSettings(model=tiny_artifact, **settings))

    return build


@pytest.fixture
async def client(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_app()) as c:
        yield c
