"""Fail-open wrapper: Redis when it answers, local memory when it does not.

Why: the store holds a cache and soft state (counters, breakers). Losing Redis must cost
accuracy across replicas, never a failed request. While degraded every replica works
alone on its local `MemoryStore`; nothing is merged back on recovery (local counts are
approximations by design). Decision-cache writes also go to the local copy while healthy,
so an outage starts with a warm cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmtriage.store.base import Store
from llmtriage.store.errors import StoreUnavailable, StoreUsageError
from llmtriage.store.memory import MemoryStore

_T = TypeVar("_T")
log = logging.getLogger(__name__)


class FailOpenStore:
    """`Store` that never raises for a primary outage.

    Each primary call gets `op_timeout_s`. The first failure marks the store degraded:
    calls then go straight to `local` (no waiting on a dead Redis) while one background
    task pings the primary every `retry_backoff_s` and switches back when it answers.
    """

    def __init__(
        self,
        primary: Store,
        local: MemoryStore | None = None,
        *,
        op_timeout_s: float = 0.25,
        retry_backoff_s: float = 1.0,
    ) -> None:
        if op_timeout_s <= 0 or retry_backoff_s <= 0:
            raise ValueError("op_timeout_s and retry_backoff_s must be positive")
        self.primary = primary
        self.local = local if local is not None else MemoryStore()
        self._op_timeout_s = op_timeout_s
        self._retry_backoff_s = retry_backoff_s
        self._degraded = False
        self._last_error: str | None = None
        self._failures = 0
        self._fallbacks = 0
        self._reconnect_task: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        """True while calls are served from local state."""
        return self._degraded

    @property
    def last_error(self) -> str | None:
        """The latest primary failure, e.g. "incr: StoreUnavailable: ..."; kept after recovery."""
        return self._last_error

    @property
    def failures(self) -> int:
        """Primary calls and reconnect probes that failed since start."""
        return self._failures

    @property
    def fallbacks(self) -> int:
        """Calls answered from local state since start."""
        return self._fallbacks

    async def get(self, key: str) -> bytes | None:
        return await self._call("get", lambda s: s.get(key))

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        await self.local.set(key, value, ttl_s)  # warm copy for an outage
        if not self._degraded:
            await self._call("set", lambda s: s.set(key, value, ttl_s))

    async def delete(self, key: str) -> None:
        await self.local.delete(key)
        if not self._degraded:
            await self._call("delete", lambda s: s.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        return await self._call("incr", lambda s: s.incr(key, amount, ttl_s))

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        return await self._call("incr_float", lambda s: s.incr_float(key, amount, ttl_s))

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        return await self._call("hincr", lambda s: s.hincr(key, field, amount, ttl_s))

    async def hgetall(self, key: str) -> dict[str, float]:
        return await self._call("hgetall", lambda s: s.hgetall(key))

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        return await self._call(
            "record_outcome", lambda s: s.record_outcome(key, ok, now, window_s)
        )

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl_s: float | None = None
    ) -> bool:
        return await self._call(
            "compare_and_set", lambda s: s.compare_and_set(key, expected, new, ttl_s)
        )

    async def ping(self) -> bool:
        """Probe the primary now (for readiness checks); updates `degraded` either way."""
        error = await self._probe()
        if error is None:
            self._recover()
            return True
        self._trip(error)
        return False

    async def aclose(self) -> None:
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.primary.aclose()
        except StoreUnavailable as exc:  # shutting down during an outage is not an error
            log.warning("closing the primary store failed: %s", exc)
        await self.local.aclose()

    async def _call(self, op: str, call: Callable[[Store], Awaitable[_T]]) -> _T:
        if not self._degraded:
            try:
                async with asyncio.timeout(self._op_timeout_s):
                    return await call(self.primary)
            except (StoreUsageError, ValueError, TypeError):
                raise  # a caller bug (wrong type, bad TTL), not an outage
            except TimeoutError:
                self._trip(f"{op}: TimeoutError: no answer within {self._op_timeout_s} s")
            except Exception as exc:
                # The one fail-open boundary: whatever the primary raised (StoreUnavailable,
                # our timeout, a driver bug), the request must still be answered.
                self._trip(f"{op}: {type(exc).__name__}: {exc}")
        self._fallbacks += 1
        return await call(self.local)

    def _trip(self, error: str) -> None:
        self._failures += 1
        self._last_error = error
        if not self._degraded:
            self._degraded = True
            log.warning("store degraded, serving from local memory: %s", self._last_error)
        self._start_reconnect()

    def _recover(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("store recovered, primary answers again")

    def _start_reconnect(self) -> None:
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(
                self._reconnect(), name="llmtriage-store-reconnect"
            )

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(self._retry_backoff_s)
            error = await self._probe()
            if error is None:
                self._recover()
                return
            self._failures += 1
            self._last_error = error

    async def _probe(self) -> str | None:
        """None when the primary answers a ping in time, else what went wrong."""
        try:
            async with asyncio.timeout(self._op_timeout_s):
                if await self.primary.ping():
                    return None
            return "ping: primary did not answer"
        except Exception as exc:
            # Same fail-open boundary as _call: a probe must never raise.
            return f"ping: {type(exc).__name__}: {exc}"
