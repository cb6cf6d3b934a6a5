"""Config validation, the backend registry, and building every Redis flavour (no I/O)."""

from __future__ import annotations

import typing

import pydantic
import pytest

from llmtriage.store import (
    FailOpenStore,
    KeySpace,
    MemoryStore,
    RedisConfig,
    StoreConfig,
    build_store,
)
from llmtriage.store.factory import BUILDERS


def test_default_is_embedded_memory() -> None:
    config = StoreConfig()
    assert config.backend == "memory"
    store = build_store(config)
    assert isinstance(store, MemoryStore)
    assert config.keyspace() == KeySpace()


def test_registry_covers_every_backend() -> None:
    backends = StoreConfig.model_fields["backend"].annotation
    assert set(BUILDERS) == set(typing.get_args(backends))


def test_redis_backend_needs_its_section() -> None:
    with pytest.raises(pydantic.ValidationError, match="needs a 'redis' section"):
        StoreConfig(backend="redis")


async def test_redis_backend_is_fail_open_by_default() -> None:
    from llmtriage.store.redis import RedisStore

    config = StoreConfig(
        backend="redis", redis=RedisConfig(url=pydantic.SecretStr("redis://127.0.0.1:1/0"))
    )
    store = build_store(config)
    assert isinstance(store, FailOpenStore)
    assert isinstance(store.primary, RedisStore)
    await store.aclose()
    bare = build_store(config.model_copy(update={"fail_open": False}))
    assert isinstance(bare, RedisStore)
    await bare.aclose()


def test_from_redis_url() -> None:
    assert StoreConfig.from_redis_url(None) == StoreConfig()
    assert StoreConfig.from_redis_url("").backend == "memory"
    config = StoreConfig.from_redis_url("redis://r:6379/0")
    assert config.backend == "redis" and config.fail_open
    assert config.redis is not None
    assert config.redis.url.get_secret_value() == "redis://r:6379/0"
    with pytest.raises(pydantic.ValidationError):
        StoreConfig.from_redis_url("r:6379")


def test_keyspace_uses_prefix_and_secret() -> None:
    config = StoreConfig(
        backend="redis", redis=RedisConfig(prefix="svc:"), key_secret=pydantic.SecretStr("k")
    )
    assert config.keyspace() == KeySpace(prefix="svc:", secret=b"k")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "http://127.0.0.1:6379"),
        ("prefix", "{all}:"),
        ("socket_timeout_s", 0),
        ("connect_timeout_s", -1),
        ("max_connections", 0),
        ("bogus", 1),
    ],
)
def test_invalid_redis_config(field: str, value: object) -> None:
    with pytest.raises(pydantic.ValidationError):
        RedisConfig.model_validate({field: value})


def test_url_password_never_shows() -> None:
    config = RedisConfig(url=pydantic.SecretStr("redis://:hunter2@db:6379/0"))
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())
    with pytest.raises(pydantic.ValidationError) as info:
        RedisConfig(url=pydantic.SecretStr("http://:hunter2@db:6379/0"))
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "redis+sentinel://s1/mymaster", "cluster": True},
        {"sentinels": ("s1:26379",)},
        {"sentinel_service": "mymaster"},
        {"url": "redis+sentinel://s1:26379"},
        {"url": "redis+sentinel://s1:notaport/mymaster"},
        {"url": "redis+sentinel://s1/mymaster", "sentinels": ("s2",), "sentinel_service": "m"},
    ],
)
def test_invalid_sentinel_or_cluster_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        RedisConfig.model_validate(kwargs)


def test_sentinel_url_is_parsed() -> None:
    config = RedisConfig(
        url=pydantic.SecretStr("rediss+sentinel://u:p%40ss@s1:26379,s2,[::1]:26380/mymaster/2")
    )
    target = config.sentinel_target()
    assert target is not None
    assert target.sentinels == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (target.service, target.db, target.username, target.password, target.ssl) == (
        "mymaster",
        2,
        "u",
        "p@ss",
        True,
    )


def test_explicit_sentinel_list() -> None:
    config = RedisConfig(
        url=pydantic.SecretStr("redis://:pw@ignored/3"),
        sentinels=("a:1", "b:2"),
        sentinel_service="svc",
    )
    target = config.sentinel_target()
    assert target is not None
    assert (target.sentinels, target.service, target.db, target.password, target.ssl) == (
        (("a", 1), ("b", 2)),
        "svc",
        3,
        "pw",
        False,
    )
    assert RedisConfig().sentinel_target() is None


async def test_standalone_client_uses_one_bounded_pool_with_short_timeouts() -> None:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.utils import HIREDIS_AVAILABLE

    from llmtriage.store.redis import RedisStore

    assert HIREDIS_AVAILABLE  # the [hiredis] extra is installed: the C parser is used
    store = RedisStore(
        RedisConfig(
            url=pydantic.SecretStr("redis://127.0.0.1:1/0"), socket_timeout_s=0.1, max_connections=7
        )
    )
    assert isinstance(store.client, Redis)
    pool = store.client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == 7
    assert pool.connection_kwargs["socket_timeout"] == 0.1
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.25
    await store.aclose()


async def test_tls_url_builds_a_tls_pool() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.connection import SSLConnection

    from llmtriage.store.redis import RedisStore

    store = RedisStore(RedisConfig(url=pydantic.SecretStr("rediss://127.0.0.1:1/0")))
    assert isinstance(store.client, Redis)
    assert store.client.connection_pool.connection_class is SSLConnection
    await store.aclose()


async def test_sentinel_client_is_built() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.sentinel import SentinelConnectionPool

    from llmtriage.store.redis import RedisStore

    store = RedisStore(
        RedisConfig(
            url=pydantic.SecretStr("redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/mymaster/1")
        )
    )
    assert isinstance(store.client, Redis)
    pool = store.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 1
    assert pool.connection_kwargs["socket_timeout"] == 0.25
    await store.aclose()


async def test_cluster_client_is_built() -> None:
    from redis.asyncio.cluster import RedisCluster

    from llmtriage.store.redis import RedisStore

    store = RedisStore(
        RedisConfig(url=pydantic.SecretStr("redis://127.0.0.1:1"), cluster=True, max_connections=9)
    )
    assert isinstance(store.client, RedisCluster)
    assert await store.ping() is False  # nothing listens: ping reports, never raises
    await store.aclose()
