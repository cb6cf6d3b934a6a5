"""Fault injection: fake OpenAI upstreams a, b, c (raw asyncio, loopback) behind the proxy.

`--chaos-long` adds the long run (tests/chaos/test_chaos_long.py): thousands of requests
through a failing chain, with Redis killed and restarted midway. Without it only the
short suite runs (part of `make test`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.upstream import FakeUpstream, UpstreamThread
from tests.redis_server import redis_server  # noqa: F401  (fixture)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-long",
        action="store_true",
        default=False,
        help="run the long fault-injection run (minutes; writes bench/results/chaos.json)",
    )


@pytest.fixture(scope="session")
def _upstreams() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {name: FakeUpstream(name) for name in "abc"}
    with UpstreamThread(*fakes.values()):
        yield fakes


@pytest.fixture
def up(_upstreams: dict[str, FakeUpstream]) -> dict[str, FakeUpstream]:
    """The three fakes, scripts cleared and counters zeroed."""
    for fake in _upstreams.values():
        fake.reset_state()
    return _upstreams


@pytest.fixture
def urls(up: dict[str, FakeUpstream]) -> dict[str, str]:
    return {name: fake.url for name, fake in up.items()}
