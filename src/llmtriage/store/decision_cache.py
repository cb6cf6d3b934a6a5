"""Decision cache: a classifier score remembered for a repeated prompt, across replicas.

Key: `KeySpace.decision(path, model_version, config_version, tenant, text)`, a keyed
BLAKE2b digest, so Redis never holds the prompt. `text` is the scored text (the last user
turn) with whitespace runs collapsed: prompts that differ only in spacing share an entry.
`config_version` is whatever else the score and tier depend on (the routing config's hash,
or the artifact thresholds and truncation limit for `/v1/score`); `tenant` (the hashed
client key when auth is on) keeps one tenant from probing another's prompts through
`cached: true`. Value: `{"score": float, "tier": str | null}` as JSON, with a TTL.

A hit skips embedding and scoring. Reads go through the service's `FailOpenStore`, so a
Redis outage turns the cache into a per-replica one instead of failing requests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from llmtriage.store.base import Store
from llmtriage.store.keys import KeySpace
from llmtriage.text import valid_utf8

#: Called once per lookup with (path, hit): hit-rate metrics hook in here.
LookupObserver = Callable[[str, bool], None]


@dataclass(frozen=True, slots=True)
class CachedScore:
    score: float
    tier: str | None = None  # informational: readers re-derive the tier from their thresholds
    novelty: float | None = None  # the artifact's novelty of the text, when it has a model

    def encode(self) -> bytes:
        entry = {"score": self.score, "tier": self.tier, "novelty": self.novelty}
        return json.dumps(entry).encode()

    @classmethod
    def decode(cls, raw: bytes) -> CachedScore | None:
        """None for anything that is not a valid entry (an old layout, a foreign writer)."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        score, tier = data.get("score"), data.get("tier")
        if not isinstance(score, float | int) or isinstance(score, bool):
            return None
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            return None
        raw_novelty = data.get("novelty")
        novelty = (
            float(raw_novelty)
            if isinstance(raw_novelty, float | int)
            and not isinstance(raw_novelty, bool)
            and math.isfinite(raw_novelty)
            else None
        )
        return cls(float(score), tier if isinstance(tier, str) else None, novelty)


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Everything besides the text that a cached score depends on."""

    path: str  # "score" (POST /v1/score) or "route" (the routing classifier)
    model_version: str
    config_version: str


def normalise(text: str) -> str:
    """Whitespace runs collapsed, lone surrogates replaced (they cannot be hashed as UTF-8)."""
    return valid_utf8(" ".join(text.split()))


class DecisionCache:
    """Score cache over any `Store`; `ttl_s` bounds how stale a shared entry may get."""

    def __init__(
        self,
        store: Store,
        keys: KeySpace,
        *,
        ttl_s: float,
        observer: LookupObserver | None = None,
    ) -> None:
        if not math.isfinite(ttl_s) or ttl_s <= 0:
            raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s!r}")
        self._store = store
        self._keys = keys
        self.ttl_s = ttl_s
        self._observer = observer

    def key(self, scope: CacheScope, text: str, tenant: str | None = None) -> str:
        parts = (scope.path, scope.model_version, scope.config_version, tenant or "")
        return self._keys.decision(*parts, normalise(text))

    async def lookup(
        self, scope: CacheScope, text: str, tenant: str | None = None
    ) -> tuple[str, CachedScore | None]:
        """(key, entry or None); pass the key to `put` after a miss to save re-hashing."""
        key = self.key(scope, text, tenant)
        raw = await self._store.get(key)
        found = None if raw is None else CachedScore.decode(raw)
        if self._observer is not None:
            self._observer(scope.path, found is not None)
        return key, found

    async def put(self, key: str, value: CachedScore) -> None:
        await self._store.set(key, value.encode(), self.ttl_s)

    def scoped(self, scope: CacheScope) -> ScopedCache:
        return ScopedCache(self, scope)


@dataclass(frozen=True, slots=True)
class ScopedCache:
    """A cache bound to one scope: what the routing service is handed."""

    cache: DecisionCache
    scope: CacheScope

    async def lookup(self, text: str, tenant: str | None = None) -> tuple[str, CachedScore | None]:
        return await self.cache.lookup(self.scope, text, tenant)

    async def put(self, key: str, value: CachedScore) -> None:
        await self.cache.put(key, value)
