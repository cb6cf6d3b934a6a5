"""Redis-backed store: one client, one connection pool, short timeouts.

Every redis-py error is translated here, at the boundary, into `StoreUnavailable` (or
`StoreUsageError` for a caller bug such as WRONGTYPE), so nothing above imports redis.
Multi-step operations are Lua scripts on a single key: atomic across replicas and
Cluster safe.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from llmtriage.store.base import WINDOW_BUCKETS, ttl_ms, window_bucket_s, window_ttl_s
from llmtriage.store.config import RedisConfig, SentinelTarget
from llmtriage.store.errors import StoreUnavailable, StoreUsageError

_T = TypeVar("_T")
_Client = Redis | RedisCluster
# Everything that means "Redis did not do it": RedisClusterException is not a RedisError,
# and OSError covers socket failures redis-py lets through (e.g. a TLS handshake).
_FAILURES = (RedisError, RedisClusterException, OSError)

# TTL applied only while the key has none (PTTL == -1): buckets expire after creation.
_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""
_INCR_FLOAT = """
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""
_HINCR = """
local v = redis.call('HINCRBYFLOAT', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return v
"""
# ARGV: ok (1/0), now, bucket_s, buckets, ttl_ms. Fields "<bucket>:t" / "<bucket>:f";
# buckets older than the window are deleted on the way, so the hash stays small.
_RECORD_OUTCOME = """
local b = math.floor(tonumber(ARGV[2]) / tonumber(ARGV[3]))
local n = tonumber(ARGV[4])
redis.call('HINCRBY', KEYS[1], b .. ':t', 1)
if ARGV[1] == '0' then redis.call('HINCRBY', KEYS[1], b .. ':f', 1) end
local flat = redis.call('HGETALL', KEYS[1])
local fails, total = 0, 0
for i = 1, #flat, 2 do
  local start, kind = string.match(flat[i], '^(-?%d+):(%a)$')
  start = tonumber(start)
  if start == nil or start <= b - n then
    redis.call('HDEL', KEYS[1], flat[i])
  elseif kind == 't' then
    total = total + tonumber(flat[i + 1])
  else
    fails = fails + tonumber(flat[i + 1])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {fails, total}
"""
# ARGV: expect_absent (1/0), expected, new, ttl_ms ('' = none).
_CAS = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
"""

# ResponseErrors that mean "the caller misused a key", not "Redis is unwell" (redis-py
# strips the leading "ERR ").
_USAGE_PREFIXES = (
    "WRONGTYPE",
    "value is not",
    "hash value is not",
    "increment or decrement would overflow",
    "increment would produce NaN or Infinity",
)


class RedisStore:
    """`Store` on Redis (standalone, TLS, Sentinel or Cluster). Build once; `aclose()` at exit."""

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self._sentinel: Sentinel | None = None
        self._client: _Client = self._connect(config)
        reg = self._client.register_script
        self._incr, self._incr_float, self._hincr = reg(_INCR), reg(_INCR_FLOAT), reg(_HINCR)
        self._record_outcome, self._cas = reg(_RECORD_OUTCOME), reg(_CAS)

    @property
    def client(self) -> _Client:
        """The underlying redis-py client (tests and diagnostics only)."""
        return self._client

    async def get(self, key: str) -> bytes | None:
        value = await self._run("get", self._client.get(key))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        await self._run("set", self._client.set(key, value, px=ttl_ms(ttl_s)))

    async def delete(self, key: str) -> None:
        await self._run("delete", self._client.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        ms = ttl_ms(ttl_s)
        if ms is None:
            return int(await self._run("incr", self._client.incrby(key, amount)))
        return int(await self._run("incr", self._incr(keys=[key], args=[amount, ms])))

    async def incr_float(self, key: str, amount: float, ttl_s: float | None = None) -> float:
        ms = ttl_ms(ttl_s)
        if ms is None:
            return float(await self._run("incr_float", self._client.incrbyfloat(key, amount)))
        raw = await self._run("incr_float", self._incr_float(keys=[key], args=[amount, ms]))
        return float(raw)

    async def hincr(self, key: str, field: str, amount: float, ttl_s: float | None = None) -> float:
        ms = ttl_ms(ttl_s)
        if ms is None:
            raw = await self._run("hincr", self._client.hincrbyfloat(key, field, amount))
        else:
            raw = await self._run("hincr", self._hincr(keys=[key], args=[field, amount, ms]))
        return float(raw)

    async def hgetall(self, key: str) -> dict[str, float]:
        raw = await self._run("hgetall", self._client.hgetall(key))
        return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}

    async def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float
    ) -> tuple[int, int]:
        bucket_s = window_bucket_s(window_s)
        ttl = ttl_ms(window_ttl_s(window_s)) or 1
        args = [1 if ok else 0, repr(float(now)), repr(bucket_s), WINDOW_BUCKETS, ttl]
        failures, total = await self._run(
            "record_outcome", self._record_outcome(keys=[key], args=args)
        )
        return int(failures), int(total)

    async def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl_s: float | None = None
    ) -> bool:
        ms = ttl_ms(ttl_s)
        args = [
            1 if expected is None else 0,
            b"" if expected is None else expected,
            new,
            "" if ms is None else ms,
        ]
        return bool(await self._run("compare_and_set", self._cas(keys=[key], args=args)))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except _FAILURES:
            return False

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
            if self._sentinel is not None:
                for node in self._sentinel.sentinels:
                    await node.aclose()
        except _FAILURES as exc:
            raise StoreUnavailable(f"redis close failed: {type(exc).__name__}") from exc

    async def _run(self, op: str, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except ResponseError as exc:
            if str(exc).startswith(_USAGE_PREFIXES):
                raise StoreUsageError(f"redis {op}: {exc}") from exc
            raise StoreUnavailable(f"redis {op} failed: {type(exc).__name__}: {exc}") from exc
        except _FAILURES as exc:
            raise StoreUnavailable(f"redis {op} failed: {type(exc).__name__}: {exc}") from exc

    def _connect(self, config: RedisConfig) -> _Client:
        # No I/O here: every client connects lazily on its first command.
        common: dict[str, Any] = {
            "socket_timeout": config.socket_timeout_s,
            "socket_connect_timeout": config.connect_timeout_s,
            # One immediate retry on a broken connection (a pooled socket that died with a
            # Redis restart); redis-py's default backs off for seconds, far too long here.
            # Not on timeouts: a timed-out write may have run, and retrying would repeat it.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "client_name": "llmtriage",
        }
        url = config.url.get_secret_value()
        target = config.sentinel_target()
        if target is not None:
            return self._connect_sentinel(config, target, common)
        if config.cluster:
            # Cluster keeps one small pool per node; max_connections bounds each of them.
            return RedisCluster.from_url(url, max_connections=config.max_connections, **common)
        pool = BlockingConnectionPool.from_url(
            url, max_connections=config.max_connections, timeout=config.pool_timeout_s, **common
        )
        return Redis.from_pool(pool)

    def _connect_sentinel(
        self, config: RedisConfig, target: SentinelTarget, common: dict[str, Any]
    ) -> _Client:
        sentinel_kwargs = {
            "socket_timeout": config.socket_timeout_s,
            "socket_connect_timeout": config.connect_timeout_s,
        }
        # redis-py leaves Sentinel.__init__ unannotated.
        self._sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
            list(target.sentinels),
            sentinel_kwargs=sentinel_kwargs,
            db=target.db,
            username=target.username,
            password=target.password,
            ssl=target.ssl,
            **common,
        )
        client: Redis = self._sentinel.master_for(
            target.service, max_connections=config.max_connections
        )
        return client
