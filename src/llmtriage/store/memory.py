"""In-process store: the embedded default and the local fallback of FailOpenStore.

One bounded LRU over every key (strings, counters, hashes), lazy TTL expiry against an
injectable monotonic clock. No method awaits while it mutates state, so each operation is
atomic on the event loop; a lock makes it safe from other threads as well.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from llmtriage.store.base import WINDOW_BUCKETS, ttl_ms, window_bucket_s, window_ttl_s
from llmtriage.store.errors import StoreUsageError

Clock = Callable[[], float]
_N = TypeVar("_N", int, float)


@dataclass(slots=True)
class _Entry:
    value: bytes | dict[str, float]
    expires_at: float | None


class MemoryStore:
    """Bounded in-memory `Store` (the least recently used key goes first when full)."""

    def __init__(self, max_entries: int = 100_000, *, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self._max = max_entries
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included."""
        return len(self._data)

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key)
            return None if entry is None else _as_bytes(entry, key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        deadline = self._deadline(ttl_s)
        with self._lock:
            self._put(key, _Entry(bytes(value), deadline))

    async def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        deadline = self._deadline(ttl_s)
        with self._lock:
            entry = self._live(key)
            current = 0 if entry is None else _parse(int, _as_bytes(entry, key), key)
            value = current + amount
            self._store_number(key, entry, str(value).encode(), deadline)
            return value

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        deadline = self._deadline(ttl_s)
        with self._lock:
            entry = self._live(key)
            current = 0.0 if entry is None else _parse(float, _as_bytes(entry, key), key)
            value = current + amount
            if not math.isfinite(value):
                raise StoreUsageError(f"increment of {key!r} would be {value}")
            self._store_number(key, entry, repr(value).encode(), deadline)
            return value

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        deadline = self._deadline(ttl_s)
        with self._lock:
            fields = self._hash(key, deadline)
            fields[field] = fields.get(field, 0.0) + amount
            return fields[field]

    async def hgetall(self, key: str) -> dict[str, float]:
        with self._lock:
            entry = self._live(key)
            return {} if entry is None else dict(_as_hash(entry, key))

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        # Same bucket fields as the Redis script ("<bucket>:t" / "<bucket>:f").
        bucket_s = window_bucket_s(window_s)
        with self._lock:
            fields = self._hash(key, None)
            bucket = math.floor(now / bucket_s)
            fields[f"{bucket}:t"] = fields.get(f"{bucket}:t", 0.0) + 1
            if not ok:
                fields[f"{bucket}:f"] = fields.get(f"{bucket}:f", 0.0) + 1
            failures = total = 0
            for name in list(fields):
                start, _, kind = name.partition(":")
                if int(start) <= bucket - WINDOW_BUCKETS:
                    del fields[name]
                elif kind == "t":
                    total += int(fields[name])
                else:
                    failures += int(fields[name])
            self._data[key].expires_at = self._clock() + window_ttl_s(window_s)
            return failures, total

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl_s: float | None = None
    ) -> bool:
        deadline = self._deadline(ttl_s)
        with self._lock:
            entry = self._live(key)
            current = None if entry is None else _as_bytes(entry, key)
            if current != expected:
                return False
            self._put(key, _Entry(bytes(new), deadline))
            return True

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        """Nothing to release; the data stays readable (a fallback may outlive its primary)."""

    # -- internals (call with the lock held) --

    def _deadline(self, ttl_s: float | None) -> float | None:
        ttl_ms(ttl_s)  # same validation as Redis
        return None if ttl_s is None else self._clock() + ttl_s

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        self._data[key] = entry
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def _store_number(
        self, key: str, entry: _Entry | None, value: bytes, deadline: float | None
    ) -> None:
        # Redis rule: an existing TTL is kept; `ttl_s` only applies to a key without one.
        if entry is None:
            self._put(key, _Entry(value, deadline))
        else:
            entry.value = value
            if entry.expires_at is None:
                entry.expires_at = deadline

    def _hash(self, key: str, deadline: float | None) -> dict[str, float]:
        entry = self._live(key)
        if entry is None:
            fields: dict[str, float] = {}
            self._put(key, _Entry(fields, deadline))
            return fields
        if entry.expires_at is None:
            entry.expires_at = deadline
        return _as_hash(entry, key)


def _as_bytes(entry: _Entry, key: str) -> bytes:
    if not isinstance(entry.value, bytes):
        raise StoreUsageError(f"{key!r} holds a hash, not a value")
    return entry.value


def _as_hash(entry: _Entry, key: str) -> dict[str, float]:
    if isinstance(entry.value, bytes):
        raise StoreUsageError(f"{key!r} holds a value, not a hash")
    return entry.value


def _parse(kind: type[_N], raw: bytes, key: str) -> _N:
    try:
        return kind(raw)
    except ValueError as exc:
        raise StoreUsageError(f"{key!r} does not hold a number") from exc
