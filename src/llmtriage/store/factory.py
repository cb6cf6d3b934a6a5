"""Build the configured store. Backends are a registry, so adding one is one entry."""

from __future__ import annotations

from collections.abc import Callable

from llmtriage.errors import ConfigError
from llmtriage.store.base import Store
from llmtriage.store.config import StoreConfig
from llmtriage.store.memory import MemoryStore
from llmtriage.store.resilient import FailOpenStore

Builder = Callable[[StoreConfig], Store]


def _memory(config: StoreConfig) -> Store:
    return MemoryStore(max_entries=config.memory_max_entries)


def _redis(config: StoreConfig) -> Store:
    try:
        # Imported here: redis is the optional 'serve' extra; the memory store needs none of it.
        from llmtriage.store.redis import RedisStore
    except ImportError as exc:
        raise ConfigError(
            "store.backend 'redis' needs the redis client: pip install 'llmtriage[serve]'"
        ) from exc
    if config.redis is None:  # StoreConfig validation already rules this out
        raise ConfigError("store.redis: required when store.backend is 'redis'")
    primary = RedisStore(config.redis)
    if not config.fail_open:
        return primary
    return FailOpenStore(
        primary,
        MemoryStore(max_entries=config.memory_max_entries),
        op_timeout_s=config.op_timeout_s,
        retry_backoff_s=config.retry_backoff_s,
    )


BUILDERS: dict[str, Builder] = {"memory": _memory, "redis": _redis}


def build_store(config: StoreConfig) -> Store:
    """A ready `Store` (no I/O yet: Redis connects on first use). Close it with `aclose()`."""
    return BUILDERS[config.backend](config)
