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
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from llmtriage.errors import ConfigError

CONFIG_ENV = "LLMTRIAGE_CONFIG"
# Resolved settings handed from `llmtriage serve` to its worker processes.
SETTINGS_JSON_ENV = "LLMTRIAGE_SERVE_SETTINGS_JSON"
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMTRIAGE_", extra="forbid", frozen=True)

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
    # Carried for the routing/proxy layer and the shared store; unused by scoring.
    routing_config: Path | None = None
    redis_url: str | None = None

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
