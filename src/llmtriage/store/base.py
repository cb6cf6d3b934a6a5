"""The one storage interface the service uses, whatever backs it.

Every operation is single-key (Redis-Cluster safe) and atomic on its key. Values are
bytes; numbers live in counters and hash fields. Keys come from `keys.KeySpace`.

Circuit breaker shared across replicas (the caller owns the policy): state is a small
JSON blob under `KeySpace.breaker_state(dep)` that changes only via `compare_and_set`, so
exactly one replica wins each transition (closed->open, open->half-open grants the single
probe, half-open->closed/open); outcomes go to `record_outcome` under
`KeySpace.breaker_window(dep)`, which counts and returns (failures, total) in the sliding
window in one atomic step. Decision cache: `get`/`set` with a TTL under
`KeySpace.decision(...)`, whose key is a digest, never the prompt.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

#: `record_outcome` splits its window into this many buckets; the window slides per bucket,
#: so it covers between (N-1)/N and all of `window_s`.
WINDOW_BUCKETS = 10


@runtime_checkable
class Store(Protocol):
    """Async key-value operations the service needs (decision cache, counters, breakers)."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when missing or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store `value`; `ttl_s=None` means no expiry (and clears an earlier one)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key if present."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add `amount` atomically; returns the new value.

        `ttl_s` is applied only while the key has no expiry (i.e. when it is created), so a
        time bucket expires `ttl_s` after its first increment, not after its last.
        """
        ...

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        """Float version of `incr` (same TTL rule)."""
        ...

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        """Add `amount` to one field of a hash (per-bucket metric maps); same TTL rule."""
        ...

    async def hgetall(self, key: str) -> dict[str, float]:
        """All fields of a hash written by `hincr`; {} when missing."""
        ...

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        """Count one call outcome and return (failures, total) within the window ending at `now`.

        `now` is the caller's wall clock (time.time()); replicas should be NTP-synced, skew
        below one bucket (`window_s / WINDOW_BUCKETS`) is harmless.
        """
        ...

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl_s: float | None = None
    ) -> bool:
        """Set `new` only if the current value equals `expected` (None: key absent).

        Returns True when this caller won; the compare and the write are one atomic step.
        """
        ...

    async def ping(self) -> bool:
        """True when the backend answers; never raises for an outage."""
        ...

    async def aclose(self) -> None:
        """Release connections; call once on shutdown."""
        ...


def ttl_ms(ttl_s: float | None) -> int | None:
    """Validated TTL in whole milliseconds (Redis PX), rounded up so it never becomes 0."""
    if ttl_s is None:
        return None
    if not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s!r}")
    return max(1, math.ceil(ttl_s * 1000))


def window_bucket_s(window_s: float) -> float:
    """Validated bucket length for `record_outcome`."""
    if not math.isfinite(window_s) or window_s < 0.01:
        raise ValueError(f"window_s must be at least 0.01 s, got {window_s!r}")
    return window_s / WINDOW_BUCKETS


def window_ttl_s(window_s: float) -> float:
    """Outcome windows outlive their span a little so an idle deployment's window self-expires."""
    return 2 * window_s
