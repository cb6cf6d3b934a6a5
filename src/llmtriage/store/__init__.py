"""Shared state behind the router: decision cache, counters, circuit breakers.

`memory` is the embedded default (one process, no Redis); `redis` shares state between
replicas and fails open to local memory when Redis is gone. `RedisStore` is imported from
`llmtriage.store.redis` on demand because redis is an optional dependency.
"""

from llmtriage.store.base import WINDOW_BUCKETS, Store
from llmtriage.store.config import RedisConfig, StoreConfig
from llmtriage.store.errors import StoreUnavailable, StoreUsageError
from llmtriage.store.factory import build_store
from llmtriage.store.keys import DEFAULT_PREFIX, KeySpace, time_bucket
from llmtriage.store.memory import MemoryStore
from llmtriage.store.resilient import FailOpenStore

__all__ = [
    "DEFAULT_PREFIX",
    "WINDOW_BUCKETS",
    "FailOpenStore",
    "KeySpace",
    "MemoryStore",
    "RedisConfig",
    "Store",
    "StoreConfig",
    "StoreUnavailable",
    "StoreUsageError",
    "build_store",
    "time_bucket",
]
