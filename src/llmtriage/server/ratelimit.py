"""Per-client-key request rate: a token bucket in the shared store.

Each client key (by its digest, `TENANT_SCOPE_KEY`) has a bucket of `burst` tokens,
refilled at `rate` a second; a request takes one, or is answered 429 with
`Retry-After` (seconds until a token is back). The bucket is one store entry
(`"<tokens> <unix time>"`) updated with compare-and-set, so replicas sharing Redis share
it; with the embedded memory store (`local`) the buckets are a dict of this process, with
no store round trip, and while Redis is unreachable the store fails open to local
memory: per replica either way. A lost race is retried a few times, then the
request goes through: the limit bounds abuse, it is not a billing meter.

Only requests that carried a client key are limited (inference and scoring with client
keys configured); admin and open endpoints are not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from llmtriage.store.base import Store
from llmtriage.store.keys import KeySpace

_RETRIES = 4


class TokenBucket:
    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.time,
        local: bool = False,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0) or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {rate!r}, {burst!r}")
        self.rate = rate
        self.burst = burst
        self._store = store
        self._keys = keys
        self._clock = clock
        # An untouched bucket refills in burst / rate seconds: kept a little longer.
        self._ttl_s = burst / rate + 1.0
        # tenant -> (tokens, time): the tenants are the configured client keys, so bounded.
        self._local: dict[str, tuple[float, float]] | None = {} if local else None
        self._store_keys: dict[str, str] = {}

    async def take(self, tenant: str) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        if self._local is not None:
            return self._take_local(self._local, tenant)
        key = self._store_keys.get(tenant)
        if key is None:
            key = self._store_keys[tenant] = self._keys.rate(tenant)
        for _ in range(_RETRIES):
            raw = await self._store.get(key)
            now = self._clock()
            tokens = self._tokens(raw, now)
            if tokens < 1.0:
                return (1.0 - tokens) / self.rate
            new = f"{tokens - 1.0:.6f} {now:.6f}".encode()
            if await self._store.compare_and_set(key, raw, new, self._ttl_s):
                return 0.0
        return 0.0  # contended: let it through rather than fail a client we cannot judge

    def _take_local(self, buckets: dict[str, tuple[float, float]], tenant: str) -> float:
        now = self._clock()
        state = buckets.get(tenant)
        tokens = float(self.burst)
        if state is not None:
            tokens = min(tokens, state[0] + max(0.0, now - state[1]) * self.rate)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        buckets[tenant] = (tokens - 1.0, now)
        return 0.0

    def _tokens(self, raw: bytes | None, now: float) -> float:
        if raw is None:
            return float(self.burst)
        try:
            left, _, stamp = raw.decode().partition(" ")
            tokens, then = float(left), float(stamp)
        except ValueError:
            return float(self.burst)  # not ours: start afresh
        if not (math.isfinite(tokens) and math.isfinite(then)):
            return float(self.burst)
        return min(float(self.burst), max(0.0, tokens) + max(0.0, now - then) * self.rate)
