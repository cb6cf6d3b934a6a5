from __future__ import annotations

from pathlib import Path

import pytest

from llmtriage.errors import ConfigError
from llmtriage.server.settings import (
    CONFIG_ENV,
    SETTINGS_JSON_ENV,
    ServeSettings,
    load_settings,
    settings_from_env,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LLMTRIAGE_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert (s.model, s.host, s.port, s.workers) == (Path("models/default"), "127.0.0.1", 8080, 1)
    assert (s.max_body_bytes, s.max_batch, s.max_prompt_chars) == (1 << 20, 64, None)
    assert s.access_log is False
    assert s.routing_config is None and s.redis_url is None


def test_precedence_flag_over_env_over_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("port: 7000\nmax_batch: 8\nhost: 0.0.0.0\nredis_url: redis://r:6379/0\n")
    monkeypatch.setenv("LLMTRIAGE_PORT", "7100")
    monkeypatch.setenv("LLMTRIAGE_MAX_BATCH", "16")
    s = load_settings(config=config, port=7200, host=None)
    assert s.port == 7200  # flag
    assert s.max_batch == 16  # env beats YAML
    assert s.host == "0.0.0.0"  # YAML beats default; absent flag (None) ignored
    assert s.redis_url == "redis://r:6379/0"


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("max_prompt_chars: 500\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    assert load_settings().max_prompt_chars == 500


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"port": 70000}, "port"),
        ({"max_batch": 0}, "max_batch"),
        ({"log_level": "loud"}, "log_level"),
    ],
)
def test_invalid_values_name_the_field(given: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        load_settings(**given)


def test_invalid_env_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRIAGE_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match=r"'max_body_bytes'.*LLMTRIAGE_MAX_BODY_BYTES"):
        load_settings()


def test_yaml_typo_and_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="'prot'"):
        load_settings(config=config)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config=tmp_path / "absent.yaml")
    config.write_text("port: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(config=config)


def test_worker_settings_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = load_settings(port=9123, max_batch=5)
    monkeypatch.setenv(SETTINGS_JSON_ENV, resolved.model_dump_json())
    monkeypatch.setenv("LLMTRIAGE_PORT", "1")  # the parent's resolution wins
    assert settings_from_env() == resolved


def test_settings_are_frozen() -> None:
    s = ServeSettings()
    with pytest.raises(ValueError):
        s.port = 1


async def test_app_from_env_uses_the_parents_settings(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtriage.server.app import app_from_env
    from tests.server.helpers import serve

    resolved = load_settings(model=tiny_artifact, max_batch=2)
    monkeypatch.setenv(SETTINGS_JSON_ENV, resolved.model_dump_json())
    async with serve(app_from_env()) as client:
        ready = await client.get("/readyz")
        too_many = await client.post("/v1/score/batch", json={"prompts": ["a", "b", "c"]})
    assert ready.status_code == 200
    assert too_many.status_code == 422
