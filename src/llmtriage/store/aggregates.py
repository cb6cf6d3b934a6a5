"""Counters shared by every replica: time-bucketed hashes in the store, written behind.

Layout: one hash per bucket, `KeySpace.metrics(name, bucket)` (e.g.
`llmtriage:met:stats:1718000040`), one field per counter ("routing.tier.cheap",
"cost.spent_usd", ...), expiring `retention_s` after the bucket's first write. Totals over
a window are the sum of the buckets it touches, read from the shared store, so every
replica answers the same.

Why write-behind: an increment per counter per request would put several Redis round trips
on the request path. Events are summed locally instead (a dict update, no I/O) and a
background task writes each bucket's deltas with one `hincr` per field every
`flush_interval_s`: a burst of N requests costs a few dozen Redis calls, not N times that.
The price is freshness: other replicas' last `flush_interval_s` are not yet visible.
Increments are atomic in Redis, so replicas never lose each other's counts; deltas flushed
while Redis is down land in the fail-open local store and are not merged back (soft state).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmtriage.store.base import Store
from llmtriage.store.errors import StoreUnavailable, StoreUsageError
from llmtriage.store.keys import KeySpace, time_bucket

log = logging.getLogger(__name__)

STATS_NAME = "stats"
DEFAULT_BUCKET_S = 60
DEFAULT_RETENTION_S = 24 * 3600
# Buckets read at once by `totals`: bounded so a 24-h window cannot drain the Redis pool
# (and time out other requests' calls) in one go.
_READ_CONCURRENCY = 8
Clock = Callable[[], float]


class WriteBehind:
    """A `Store` whose `hincr` is summed locally until `flush()`; other calls go straight through.

    `hincr` therefore returns the amount pending for that field, not the stored total:
    hand this to writers that only add (e.g. `scoring.score_log.record_score`), never to
    code that reads the result. At most `max_pending` distinct (key, field) pairs wait;
    beyond that new ones are dropped and counted in `dropped` (memory stays bounded when
    flushing stalls).
    """

    def __init__(self, store: Store, *, max_pending: int = 50_000) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.store = store
        self._max_pending = max_pending
        self._pending: dict[tuple[str, str], list[float]] = {}  # -> [amount, ttl_s or nan]
        self.dropped = 0

    def add(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        """Synchronous `hincr` into the buffer (no I/O): usable from sync code on the loop."""
        entry = self._pending.get((key, field))
        if entry is None:
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                return 0.0
            entry = self._pending[(key, field)] = [0.0, math.nan if ttl_s is None else ttl_s]
        entry[0] += amount
        return entry[0]

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write every pending delta; returns how many fields were written."""
        batch, self._pending = self._pending, {}
        written = 0
        for (key, field), (amount, ttl) in batch.items():
            try:
                await self.store.hincr(key, field, amount, None if math.isnan(ttl) else ttl)
            except (StoreUnavailable, StoreUsageError) as exc:
                # Only reached without the fail-open wrapper, or for a key of the wrong type
                # (a caller bug): drop this delta, keep the flusher alive.
                log.warning("dropped a counter delta for %s: %s", key, exc)
                continue
            written += 1
        return written

    # The rest of the Store protocol: straight to the wrapped store.

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        return self.add(key, field, amount, ttl_s)

    async def get(self, key: str) -> bytes | None:
        return await self.store.get(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        await self.store.set(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        await self.store.delete(key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        return await self.store.incr(key, amount, ttl_s)

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        return await self.store.incr_float(key, amount, ttl_s)

    async def hgetall(self, key: str) -> dict[str, float]:
        return await self.store.hgetall(key)

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        return await self.store.record_outcome(key, ok, now, window_s)

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl_s: float | None = None
    ) -> bool:
        return await self.store.compare_and_set(key, expected, new, ttl_s)

    async def ping(self) -> bool:
        return await self.store.ping()

    async def aclose(self) -> None:
        """Flushes; the wrapped store belongs to the caller, which closes it."""
        await self.flush()


class Aggregates:
    """Named counters in time buckets: `add` on the request path, `totals` for a window."""

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        *,
        name: str = STATS_NAME,
        bucket_s: int = DEFAULT_BUCKET_S,
        retention_s: int = DEFAULT_RETENTION_S,
        clock: Clock = time.time,
    ) -> None:
        if bucket_s < 1 or retention_s < bucket_s:
            raise ValueError(
                f"need 1 <= bucket_s <= retention_s, got bucket_s={bucket_s}, "
                f"retention_s={retention_s}"
            )
        self.buffer = store if isinstance(store, WriteBehind) else WriteBehind(store)
        self.keys = keys
        self.name = name
        self.bucket_s = bucket_s
        self.retention_s = retention_s
        self._clock = clock  # wall clock: buckets must line up across replicas

    def add(self, field: str, amount: float = 1.0) -> None:
        """Count `amount` under `field` in the current bucket (buffered, no I/O)."""
        bucket = time_bucket(self._clock(), self.bucket_s)
        self.buffer.add(self.keys.metrics(self.name, bucket), field, amount, self.retention_s)

    async def flush(self) -> int:
        return await self.buffer.flush()

    async def run_flusher(self, interval_s: float) -> None:
        """Flush every `interval_s` until cancelled (run as a task; flush once more on exit)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.flush()

    def window(self, window_s: float) -> tuple[int, int]:
        """(first bucket, last bucket) covering the last `window_s` seconds, rounded outwards."""
        if not math.isfinite(window_s) or not 0 < window_s <= self.retention_s:
            raise ValueError(f"window_s must be in (0, {self.retention_s}], got {window_s!r}")
        now = self._clock()
        return time_bucket(now - window_s, self.bucket_s), time_bucket(now, self.bucket_s)

    async def totals(self, window_s: float) -> WindowTotals:
        """Every field summed over the buckets of the window (this replica's pending deltas
        are flushed first, so its own counts are exact)."""
        first, last = self.window(window_s)
        await self.flush()
        keys = [self.keys.metrics(self.name, b) for b in range(first, last + 1, self.bucket_s)]
        fields: dict[str, float] = {}
        for start in range(0, len(keys), _READ_CONCURRENCY):
            chunk = keys[start : start + _READ_CONCURRENCY]
            for found in await asyncio.gather(*(self.buffer.hgetall(k) for k in chunk)):
                for field, value in found.items():
                    fields[field] = fields.get(field, 0.0) + value
        return WindowTotals(start=first, end=last + self.bucket_s, fields=fields)


@dataclass(frozen=True, slots=True)
class WindowTotals:
    start: int  # epoch seconds, the first bucket's start
    end: int  # epoch seconds, the last bucket's end
    fields: dict[str, float]
