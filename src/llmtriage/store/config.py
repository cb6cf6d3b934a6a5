"""Validated store settings. Imports nothing from redis, so the core runs without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from llmtriage.store.keys import DEFAULT_PREFIX, KeySpace, validate_prefix

_SCHEMES = frozenset({"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel"})
_SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """Where Sentinel finds the master and how to talk to it."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    ssl: bool


class RedisConfig(BaseModel):
    """Connection to the shared Redis.

    url: redis://[user:pass@]host:port/db, rediss:// (TLS), unix:///path?db=0, or
    redis+sentinel://[user:pass@]h1:26379,h2:26379/<service>[/db]. Instead of a sentinel URL
    you may list `sentinels` ("host:port") with `sentinel_service`; the url then supplies
    credentials, db and TLS. `cluster=True` uses Redis Cluster (url names a seed node).
    The url is a SecretStr because it may carry a password.
    """

    # hide_input_in_errors: a rejected url must not echo its password into logs.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    prefix: str = DEFAULT_PREFIX
    # Short timeouts: the store sits on the request path and must fail fast (then fail open).
    socket_timeout_s: float = Field(default=0.25, gt=0, le=30)
    connect_timeout_s: float = Field(default=0.25, gt=0, le=30)
    max_connections: int = Field(default=50, ge=1, le=10_000)
    # How long a call waits for a free pooled connection before it counts as a failure.
    pool_timeout_s: float = Field(default=0.25, gt=0, le=30)
    cluster: bool = False
    sentinels: tuple[str, ...] = ()
    sentinel_service: str | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix_ok(cls, value: str) -> str:
        return validate_prefix(value)

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in _SCHEMES:
            # Name the scheme only: the url may hold a password.
            raise ValueError(f"url scheme must be one of {sorted(_SCHEMES)}, got {scheme!r}")
        return value

    @model_validator(mode="after")
    def _mode_ok(self) -> RedisConfig:
        scheme = self.scheme
        if self.cluster and scheme not in ("redis", "rediss"):
            raise ValueError("cluster=true needs a redis:// or rediss:// seed-node url")
        if self.cluster and self.sentinels:
            raise ValueError("cluster and sentinels are mutually exclusive")
        if bool(self.sentinels) != bool(self.sentinel_service):
            raise ValueError("sentinels and sentinel_service must be given together")
        if self.sentinels and scheme.endswith("+sentinel"):
            raise ValueError("give sentinels either in the url or as a list, not both")
        self.sentinel_target()  # parses, raising ValueError on a malformed sentinel spec
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url.get_secret_value()).scheme

    def sentinel_target(self) -> SentinelTarget | None:
        """The Sentinel setup, or None for standalone / Cluster."""
        parts = urlsplit(self.url.get_secret_value())
        if parts.scheme.endswith("+sentinel"):
            hosts = parts.netloc.rpartition("@")[2].split(",")
            path = [p for p in parts.path.split("/") if p]
            if not path:
                raise ValueError("a sentinel url needs the service name as its path")
            service, db_text = path[0], (path[1] if len(path) > 1 else "0")
        elif self.sentinels:
            hosts = list(self.sentinels)
            service = self.sentinel_service or ""
            db_text = parts.path.strip("/") or "0"
        else:
            return None
        return SentinelTarget(
            sentinels=tuple(_host_port(h) for h in hosts),
            service=service,
            db=_db(db_text),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme.startswith("rediss"),
        )


class StoreConfig(BaseModel):
    """Which store the service uses. `memory` (default) needs no Redis: one process only."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    backend: Literal["memory", "redis"] = "memory"
    redis: RedisConfig | None = None
    # Bound on local entries: the whole store for `memory`, the fallback for `redis`.
    memory_max_entries: int = Field(default=100_000, ge=1)
    # Wrap Redis in FailOpenStore (local fallback, auto-reconnect). Off only in tests.
    fail_open: bool = True
    op_timeout_s: float = Field(default=0.25, gt=0, le=30)
    retry_backoff_s: float = Field(default=1.0, gt=0, le=300)
    # Keys the digests in decision-cache keys; must be equal on all replicas.
    key_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _redis_given(self) -> StoreConfig:
        if self.backend == "redis" and self.redis is None:
            raise ValueError("backend 'redis' needs a 'redis' section (at least its url)")
        return self

    @classmethod
    def from_redis_url(cls, url: str | None) -> StoreConfig:
        """For a single `redis_url` setting: embedded memory when unset, else fail-open Redis."""
        if not url:
            return cls()
        return cls(backend="redis", redis=RedisConfig(url=SecretStr(url)))

    def keyspace(self) -> KeySpace:
        prefix = self.redis.prefix if self.redis is not None else DEFAULT_PREFIX
        secret = self.key_secret.get_secret_value().encode() if self.key_secret else None
        return KeySpace(prefix=prefix, secret=secret)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = text.strip(), str(_SENTINEL_PORT)
    host = host.strip("[]")  # IPv6 literal
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"sentinel address must be host:port, got {text!r}")
    return host, int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"redis db must be a non-negative integer, got {text!r}")
    return int(text)
