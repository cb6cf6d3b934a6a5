"""DecisionCache: digest keys, whitespace-normalised text, scopes, tenants, TTL."""

from __future__ import annotations

import pytest

from llmtriage.store import KeySpace, MemoryStore
from llmtriage.store.decision_cache import CachedScore, CacheScope, DecisionCache, normalise
from llmtriage.text import valid_utf8
from tests.store.conftest import FakeClock

SCOPE = CacheScope("route", "model-1", "config-a")
PROMPT = "Prove that sqrt(2) is irrational, Alice"


def cache(store: MemoryStore, seen: list[tuple[str, bool]] | None = None) -> DecisionCache:
    observer = None if seen is None else (lambda path, hit: seen.append((path, hit)))
    return DecisionCache(store, KeySpace(prefix="t:"), ttl_s=60, observer=observer)


async def test_miss_put_hit_and_observer() -> None:
    seen: list[tuple[str, bool]] = []
    c = cache(MemoryStore(), seen)
    key, found = await c.lookup(SCOPE, PROMPT)
    assert found is None
    await c.put(key, CachedScore(0.75, "strong"))
    assert (await c.lookup(SCOPE, PROMPT))[1] == CachedScore(0.75, "strong")
    assert seen == [("route", False), ("route", True)]


async def test_key_is_a_digest_and_the_value_holds_no_prompt() -> None:
    store = MemoryStore()
    c = cache(store)
    key, _ = await c.lookup(SCOPE, PROMPT)
    await c.put(key, CachedScore(0.5))
    assert key.startswith("t:dc:") and "alice" not in key.lower()
    raw = await store.get(key)
    assert raw is not None and b"Alice" not in raw


async def test_whitespace_is_normalised_but_text_scope_and_tenant_separate() -> None:
    c = cache(MemoryStore())
    key = c.key(SCOPE, PROMPT)
    assert c.key(SCOPE, "  Prove that  sqrt(2)\nis irrational,\tAlice ") == key
    assert c.key(SCOPE, PROMPT.lower()) != key
    assert c.key(CacheScope("route", "model-2", "config-a"), PROMPT) != key
    assert c.key(CacheScope("route", "model-1", "config-b"), PROMPT) != key
    assert c.key(CacheScope("score", "model-1", "config-a"), PROMPT) != key
    assert c.key(SCOPE, PROMPT, tenant="tenant-1") != key
    assert c.key(SCOPE, PROMPT, tenant="tenant-1") != c.key(SCOPE, PROMPT, tenant="tenant-2")


def test_lone_surrogates_can_be_keyed() -> None:
    assert normalise("a\ud800  b").encode() == valid_utf8("a\ud800 b").encode()
    cache(MemoryStore()).key(SCOPE, "a\ud800")  # no UnicodeEncodeError


async def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    c = DecisionCache(MemoryStore(clock=clock), KeySpace(), ttl_s=10)
    key, _ = await c.lookup(SCOPE, PROMPT)
    await c.put(key, CachedScore(0.2))
    clock.advance(9.9)
    assert (await c.lookup(SCOPE, PROMPT))[1] is not None
    clock.advance(0.2)
    assert (await c.lookup(SCOPE, PROMPT))[1] is None


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1]", b'{"score": "x"}', b'{"score": 7}', b'{"score": true}', b"\xff"]
)
async def test_a_foreign_or_broken_value_is_a_miss(raw: bytes) -> None:
    store = MemoryStore()
    c = cache(store)
    key = c.key(SCOPE, PROMPT)
    await store.set(key, raw)
    assert (await c.lookup(SCOPE, PROMPT))[1] is None


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DecisionCache(MemoryStore(), KeySpace(), ttl_s=0)
