"""Session-wide fake upstream servers, reset before each test that uses them.

Imported by the conftest of each test folder that needs them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.serving import ServerThread
from tests.providers.wire_fakes import FakeAnthropic, FakeOpenAI


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with ServerThread(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    with ServerThread(fake.app) as server:
        yield fake, server.url


def _reset(fake: FakeOpenAI | FakeAnthropic) -> None:
    fake.received.clear()
    fake.failures.clear()
    fake.hold_after_first_chunk = None
    if isinstance(fake, FakeAnthropic):
        fake.stream_error = None


@pytest.fixture
def openai_fake(_openai_server: tuple[FakeOpenAI, str]) -> Iterator[tuple[FakeOpenAI, str]]:
    fake, _ = _openai_server
    _reset(fake)
    yield _openai_server
    if fake.hold_after_first_chunk is not None:
        fake.hold_after_first_chunk.set()


@pytest.fixture
def anthropic_fake(
    _anthropic_server: tuple[FakeAnthropic, str],
) -> Iterator[tuple[FakeAnthropic, str]]:
    fake, _ = _anthropic_server
    _reset(fake)
    yield _anthropic_server
    if fake.hold_after_first_chunk is not None:
        fake.hold_after_first_chunk.set()
