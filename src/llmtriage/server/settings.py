"""Settings of the scoring service: one validated object, built once at start-up.

Precedence, highest first: CLI flags (passed as keyword overrides), environment
variables `LLMTRIAGE_*`, the YAML file named by `--config` / `LLMTRIAGE_CONFIG`,
then the defaults below. Nothing is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from llmtriage.errors import ConfigError
from llmtriage.learning.settings import DecisionLogSettings
from llmtriage.server.auth import AuthPolicy, check_digests
from llmtriage.store.config import RedisConfig, StoreConfig
from llmtriage.store.keys import DEFAULT_PREFIX, KeySpace, validate_prefix

CONFIG_ENV = "LLMTRIAGE_CONFIG"
# Resolved settings handed from `llmtriage serve` to its worker processes.
SETTINGS_JSON_ENV = "LLMTRIAGE_SERVE_SETTINGS_JSON"
MAX_STATS_BUCKETS = 10_000  # bounds what one /v1/stats read may touch
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class ServeSettings(BaseSettings):
    # hide_input_in_errors: a rejected redis_url must not echo its password.
    model_config = SettingsConfigDict(
        env_prefix="LLMTRIAGE_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    model: Path = Path("models/default")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_batch: int = Field(default=64, ge=1, le=10_000)
    # None: the artifact's own `max_chars`; a larger value cannot widen it.
    max_prompt_chars: int | None = Field(default=None, ge=16)
    log_level: LogLevel = "info"
    access_log: bool = False  # off: an access log line is one more place prompts could leak
    # Carried for the routing/proxy layer; unused by scoring.
    routing_config: Path | None = None
    # Who may call what (server/auth.py): an access level per endpoint group. Keys are
    # sha256 hex digests, never the keys; the routing config's auth.api_key_hashes are
    # client keys too. No key configured at all: every endpoint is open.
    auth: AuthPolicy = Field(default_factory=AuthPolicy)
    client_key_hashes: list[str] = Field(default_factory=list, repr=False)
    admin_key_hashes: list[str] = Field(default_factory=list, repr=False)
    # Slow clients (server/protocol.py, under `llmtriage serve`): the request head must be
    # complete header_timeout_s after the connection opened or the last answer ended, the
    # body body_timeout_s after the head; idle keep-alive connections close after
    # keepalive_timeout_s; one connection over max_connections is answered 503.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    keepalive_timeout_s: float = Field(default=5.0, gt=0, le=300)
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    # Per client key (server/ratelimit.py): a token bucket refilled at rate_limit_rps up to
    # rate_limit_burst, shared through Redis when configured; 0 turns it off.
    rate_limit_rps: float = Field(default=50.0, ge=0, le=1_000_000)
    rate_limit_burst: int = Field(default=100, ge=1, le=1_000_000)
    # Shared store. Unset: embedded in-process memory (state is per replica). Set
    # (redis://, rediss://, unix://, redis+sentinel://): Redis shared by every replica,
    # failing open to local memory while it is unreachable.
    redis_url: str | None = Field(default=None, repr=False)  # may hold a password
    redis_prefix: str = DEFAULT_PREFIX  # lets several deployments share one Redis
    # Per Redis call (connect, command, pool wait): the store sits on the request path.
    redis_timeout_s: float = Field(default=0.25, gt=0, le=5)
    # Keys the prompt digests in cache keys (same on every replica); see store/keys.py.
    redis_key_secret: SecretStr | None = None
    # Decision cache entry lifetime; 0 disables the cache.
    cache_ttl_s: float = Field(default=3600.0, ge=0, le=30 * 86400)
    # /v1/stats aggregates: bucket length, how long buckets are kept, write-behind period.
    stats_bucket_s: int = Field(default=60, ge=1, le=3600)
    stats_retention_s: int = Field(default=86400, ge=60, le=30 * 86400)
    stats_flush_s: float = Field(default=1.0, gt=0, le=60)
    # Move everything alive after start-up (model, tables, config) out of the cyclic
    # collector's reach: a full collection over them took ~140 ms and showed as p99
    # spikes under load. `llmtriage serve` turns it on; embedded apps (tests) leave it off.
    gc_freeze: bool = False
    # Answer well-formed POST /v1/score before FastAPI's middleware stack (same
    # functions, same metrics; errors still go through FastAPI): a third less time per
    # request in-process (`bench.run --only asgi`). Off: every request takes the FastAPI route.
    fast_score_path: bool = True
    # The decision log (llmtriage.learning): off by default; see DecisionLogSettings.
    decision_log: DecisionLogSettings = Field(default_factory=DecisionLogSettings)

    @field_validator("client_key_hashes", "admin_key_hashes")
    @classmethod
    def _digests_ok(cls, value: list[str]) -> list[str]:
        return check_digests(value)

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_ok(cls, value: str) -> str:
        return validate_prefix(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url_ok(cls, value: str | None) -> str | None:
        if value:
            _redis_config(value)  # a bad url fails here, at start-up
        return value or None

    @field_serializer("redis_key_secret", when_used="json")
    def _reveal_secret(self, value: SecretStr | None) -> str | None:
        # JSON is how `serve --workers N` hands settings to its workers: they need the
        # real secret. repr() and model_dump() keep it masked.
        return None if value is None else value.get_secret_value()

    @field_validator("stats_retention_s")
    @classmethod
    def _retention_ok(cls, value: int, info: ValidationInfo) -> int:
        bucket = info.data.get("stats_bucket_s")  # absent when it failed its own check
        if bucket is not None and not bucket <= value <= bucket * MAX_STATS_BUCKETS:
            raise ValueError(
                f"must be between stats_bucket_s ({bucket}) and {MAX_STATS_BUCKETS} buckets"
            )
        return value

    def store_config(self) -> StoreConfig:
        """The store these settings select: embedded memory, or fail-open Redis."""
        if not self.redis_url:
            return StoreConfig(key_secret=self.redis_key_secret)
        t = self.redis_timeout_s
        redis = _redis_config(
            self.redis_url,
            prefix=self.redis_prefix,
            socket_timeout_s=t,
            connect_timeout_s=t,
            pool_timeout_s=t,
        )
        return StoreConfig(
            backend="redis", redis=redis, op_timeout_s=t, key_secret=self.redis_key_secret
        )

    def keyspace(self) -> KeySpace:
        secret = (
            self.redis_key_secret.get_secret_value().encode() if self.redis_key_secret else None
        )
        return KeySpace(prefix=self.redis_prefix, secret=secret)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls)  # reads model_config["yaml_file"]
        return (init_settings, env_settings, yaml_source)


def _redis_config(url: str, **options: Any) -> RedisConfig:
    try:
        return RedisConfig(url=SecretStr(url), **options)
    except ValidationError as exc:
        # Only the messages: the url may carry a password.
        problems = "; ".join(
            e["msg"].removeprefix("Value error, ") for e in exc.errors(include_input=False)
        )
        raise ValueError(problems) from None


def load_settings(*, config: Path | None = None, **overrides: Any) -> ServeSettings:
    """Build settings; `overrides` set to None are ignored (an absent CLI flag).

    Raises ConfigError naming the first invalid field and where values come from.
    """
    path = config or _env_path()
    cls: type[ServeSettings] = ServeSettings if path is None else _with_yaml(path)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc


def settings_from_env() -> ServeSettings:
    """Settings in a worker process: the parent's resolved JSON if given, else env + YAML."""
    resolved = os.environ.get(SETTINGS_JSON_ENV)
    if not resolved:
        return load_settings()
    try:
        return ServeSettings.model_validate_json(resolved)  # validates, reads no env
    except ValidationError as exc:
        raise ConfigError(_describe(exc, None)) from exc


def _env_path() -> Path | None:
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def _with_yaml(path: Path) -> type[ServeSettings]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    # A subclass per file: pydantic-settings takes the YAML path only from model_config.
    config = SettingsConfigDict(**{**ServeSettings.model_config, "yaml_file": path})
    return type("ServeSettings", (ServeSettings,), {"model_config": config})


def _describe(exc: ValidationError, path: Path | None) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    env = f"LLMTRIAGE_{field.upper()}"
    where = f"flag, {env} or {path}" if path else f"flag or {env}"
    return f"invalid setting '{field}' ({where}): {first['msg']}"
