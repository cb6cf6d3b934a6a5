"""Key layout: prefix, no plaintext, Cluster hash tags."""

from __future__ import annotations

import pytest

from llmtriage.store import DEFAULT_PREFIX, KeySpace, time_bucket

PROMPT = "My name is Alice Smith and my card number is 4111 1111 1111 1111"


def test_decision_key_never_contains_the_prompt() -> None:
    key = KeySpace().decision(PROMPT, "routing-v3")
    assert key.startswith(f"{DEFAULT_PREFIX}dc:")
    lowered = key.lower()
    for word in [*PROMPT.lower().split(), "routing-v3"]:
        if len(word) > 2:
            assert word not in lowered
    assert len(key) == len(f"{DEFAULT_PREFIX}dc:") + 32


def test_decision_key_is_deterministic_and_separates_parts() -> None:
    keys = KeySpace()
    assert keys.decision("a", "b") == keys.decision("a", "b")
    assert keys.decision("ab", "c") != keys.decision("a", "bc")
    assert keys.decision("text") == keys.decision(b"text")
    with pytest.raises(ValueError):
        keys.decision()


def test_secret_changes_every_digest() -> None:
    assert KeySpace(secret=b"s1").decision(PROMPT) != KeySpace().decision(PROMPT)
    assert KeySpace(secret=b"s1").decision(PROMPT) != KeySpace(secret=b"s2").decision(PROMPT)
    long_secret = b"x" * 100  # longer than a BLAKE2b key: hashed first, still works
    assert KeySpace(secret=long_secret).decision(PROMPT) != KeySpace().decision(PROMPT)
    assert "s1" not in repr(KeySpace(secret=b"s1"))


def test_layout() -> None:
    keys = KeySpace(prefix="app:")
    assert keys.counter("requests") == "app:ctr:requests"
    assert keys.counter("cost_usd", 1_700_000_000) == "app:ctr:cost_usd:1700000000"
    assert keys.metrics("latency", 60) == "app:met:latency:60"
    assert keys.breaker_state("openai/gpt-4o") == "app:{brk:openai/gpt-4o}:state"
    assert keys.breaker_window("openai/gpt-4o") == "app:{brk:openai/gpt-4o}:win"


def test_breaker_keys_share_one_cluster_slot() -> None:
    from redis.crc import key_slot

    keys = KeySpace()
    for dep in ["openai/gpt-4o", "anthropic/claude-haiku", "local:llama-3.1-8b@vllm"]:
        assert key_slot(keys.breaker_state(dep).encode()) == key_slot(
            keys.breaker_window(dep).encode()
        )
    slots = {key_slot(keys.breaker_state(f"dep-{i}").encode()) for i in range(50)}
    assert len(slots) > 40  # deployments spread over the cluster


@pytest.mark.parametrize("name", ["a}b", "{x}", "has space", "ünïcode", "", "x" * 200])
def test_unsafe_names_become_digests(name: str) -> None:
    key = KeySpace().breaker_state(name)
    assert key.count("{") == 1 and key.count("}") == 1
    assert "{brk:h-" in key
    if name:
        assert name not in key


@pytest.mark.parametrize("prefix", ["{tag}:", "has space", "x" * 65, "é:"])
def test_bad_prefix_is_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        KeySpace(prefix=prefix)


def test_time_bucket() -> None:
    assert time_bucket(1_700_000_099.9, 60) == 1_700_000_040
    assert time_bucket(1_700_000_039.9, 60) == 1_699_999_980
    assert time_bucket(1_700_000_040.0, 60) == 1_700_000_040
    with pytest.raises(ValueError):
        time_bucket(1.0, 0)
