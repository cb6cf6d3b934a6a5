"""In-memory pieces for the fallback unit tests: errors, a virtual clock, scripted targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmtriage.providers.base import Timeouts
from llmtriage.providers.errors import (
    ProviderCallError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderKeyMissing,
    ProviderProtocolError,
    ProviderStreamError,
    ProviderTimeout,
    http_error,
)


def status(
    http_status: int, headers: dict[str, str] | None = None, **error: Any
) -> ProviderHTTPError:
    """The typed error a provider raises for an HTTP answer (OpenAI error body)."""
    body = {"error": {"message": f"upstream said {http_status}", **error}}
    return http_error(
        deployment="d", status=http_status, headers=headers or {}, body=body, secret=None
    )


TRANSPORT: dict[str, Callable[[], ProviderCallError]] = {
    "connection": lambda: ProviderConnectionError("ConnectError", deployment="d"),
    "timeout": lambda: ProviderTimeout("ReadTimeout", deployment="d"),
    "protocol": lambda: ProviderProtocolError("the stream ended without [DONE]", deployment="d"),
    "stream": lambda: ProviderStreamError("Overloaded", deployment="d", error_type="overloaded"),
    "key_missing": lambda: ProviderKeyMissing(deployment="d", env_var="KEY"),
}


class VirtualTime:
    """A monotonic clock that only moves when told to; `sleep` moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Dep:
    """A chain target."""

    name: str
    context_window: int = 100_000
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(connect=1, read=5, total=30))
    max_retries: int = 2


@dataclass
class Scripted:
    """`call` for Chain.run: each deployment answers from its script, else "ok"; every
    call is logged with the timeouts it was given; `latency` moves the virtual clock."""

    time: VirtualTime
    scripts: dict[str, list[ProviderCallError | str]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, Timeouts]] = field(default_factory=list)

    async def __call__(self, target: Dep, timeouts: Timeouts) -> str:
        self.calls.append((target.name, timeouts))
        self.time.now += self.latency.get(target.name, 0.0)
        script = self.scripts.get(target.name, [])
        outcome = script.pop(0) if script else "ok"
        if isinstance(outcome, ProviderCallError):
            raise outcome
        return f"{outcome} from {target.name}"

    def called(self) -> list[str]:
        return [name for name, _ in self.calls]
