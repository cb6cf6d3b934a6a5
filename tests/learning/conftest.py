from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmtriage.learning.store import DecisionStore, open_decision_store
from tests.learning.postgres_server import postgres_schema_url, private_postgres

__all__ = ["postgres_schema_url", "private_postgres"]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def decision_store(store_url: str) -> AsyncIterator[DecisionStore]:
    store = await open_decision_store(store_url)
    try:
        yield store
    finally:
        await store.aclose()


from tests.providers.upstreams import _openai_server, openai_fake  # noqa: E402

__all__ += ["_openai_server", "openai_fake"]
from tests.providers.upstreams import _anthropic_server, anthropic_fake  # noqa: E402

__all__ += ["_anthropic_server", "anthropic_fake"]
