"""Config loading: defaults, and errors that name the file, the field and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from llmtriage.errors import ConfigError
from llmtriage.routing import load_routing_config, parse_routing_config
from llmtriage.routing.config import ForbidTiers, RoutingConfig
from llmtriage.scoring.scorer import Scorer
from llmtriage.service import build_routing
from tests.routing.configs import config_data

GOOD = """\
tiers:
  - name: cheap
    deployments:
      - name: mini
        provider: openai
        model: gpt-mini
        api_key_env: OPENAI_API_KEY
        input_price_per_mtok: 0.15
        output_price_per_mtok: 0.60
        context_window: 128000
  - name: strong
    deployments:
      - name: big
        provider: anthropic
        model: claude-big
        api_key_env: ANTHROPIC_API_KEY
        input_price_per_mtok: 3
        output_price_per_mtok: 15
        context_window: 200000
rules:
  - id: free
    match: {headers: {x-user-tier: free}}
    action: forbid_tiers
    tiers: [strong]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_routing_config(write(tmp_path, text))
    return str(info.value)


def test_packaged_default_loads() -> None:
    config = load_routing_config()
    assert config.tier_names == ["cheap", "strong"]
    assert config.auto_model_names == ["auto"]
    assert not config.cascade.enabled and config.fallback.enabled
    assert all(d.api_key_env for t in config.tiers for d in t.deployments)


def test_good_file(tmp_path: Path) -> None:
    config = load_routing_config(write(tmp_path, GOOD))
    assert isinstance(config.rules[0], ForbidTiers)
    assert str(config.tiers[0].deployments[0].input_price_per_mtok) == "0.15"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "        context_window: 128000\n",
            "        context_window: 128000\n        colour: red\n",
            "routing.yaml:11 tiers[0].deployments[0].colour: Extra inputs are not permitted",
        ),
        (
            "output_price_per_mtok: 0.60",
            "output_price_per_mtok: cheap",
            "routing.yaml:9 tiers[0].deployments[0].output_price_per_mtok:",
        ),
        (
            "provider: openai",
            "provider: openia",
            "routing.yaml:5 tiers[0].deployments[0].provider: Value error, unknown provider",
        ),
        (
            "    tiers: [strong]\n",
            "    tiers: [huge]\n",
            "routing.yaml:24 rules[0].tiers[0]: unknown tier 'huge'",
        ),
        (
            "    action: forbid_tiers\n    tiers: [strong]\n",
            "    action: route_to_tier\n",
            "routing.yaml:21 rules[0].tier: Field required",
        ),
        ("    action: forbid_tiers", "    action: teleport", "routing.yaml:21 rules[0]:"),
        (
            "match: {headers: {x-user-tier: free}}",
            "match: {last_user_regex: '(unclosed'}",
            "routing.yaml:22 rules[0].match.last_user_regex: Value error, invalid regular",
        ),
        (
            "name: big",
            "name: mini",
            "routing.yaml:13 tiers[1].deployments[0].name: name 'mini' is already used",
        ),
        (
            "api_key_env: OPENAI_API_KEY",
            "api_key_env: sk-live-abc",
            "routing.yaml:7 tiers[0].deployments[0].api_key_env",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    message = error_for(tmp_path, GOOD.replace(old, new))
    assert expected in message
    assert str(tmp_path / "routing.yaml") in message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("context_window: 128000", "context_window: -1").replace(
        "input_price_per_mtok: 3", "input_price_per_mtok: x"
    )
    message = error_for(tmp_path, text)
    assert "tiers[0].deployments[0].context_window" in message
    assert "tiers[1].deployments[0].input_price_per_mtok" in message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    assert "routing.yaml:3: not valid YAML" in error_for(
        tmp_path, "tiers:\n  - name: a\n  deployments: [\n"
    )


def test_client_keys_must_be_hashes(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD + "auth:\n  api_key_hashes: [my-plain-key]\n")
    assert "auth.api_key_hashes" in message and "sha256" in message


def test_thresholds_must_cover_the_tiers_above_the_cheapest() -> None:
    with pytest.raises(
        ConfigError, match=r"classifier.thresholds: needs one minimum score .*\(strong\); got cheap"
    ):
        parse_routing_config(config_data(classifier={"thresholds": {"cheap": 0.3}}))


async def test_artifact_with_fewer_tiers_needs_explicit_thresholds(
    tmp_path: Path, tiny_artifact: Path
) -> None:
    text = GOOD.replace(
        "rules:",
        "  - name: frontier\n    deployments:\n"
        + textwrap.indent(
            "- name: huge\n  provider: openai\n  model: gpt-huge\n  input_price_per_mtok: 10\n"
            "  output_price_per_mtok: 30\n  context_window: 200000\n",
            "      ",
        )
        + "classifier:\n  enabled: true\nrules:",
    )
    config = load_routing_config(write(tmp_path, text))
    scorer = Scorer.load(tiny_artifact)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError) as info:
            build_routing(config, scorer, http_client=client, env={})
        message = str(info.value)
        assert "routing.yaml:" in message and "classifier.thresholds" in message
        assert "has 2 tiers (cheap, strong) but the config has 3" in message
        fixed = load_routing_config(
            write(
                tmp_path,
                text.replace("  enabled: true\n", "  thresholds: {strong: 0.4, frontier: 0.8}\n"),
            )
        )
        service = build_routing(fixed, scorer, http_client=client, env={})
    assert service.router.classifier is not None
    assert service.router.classifier.thresholds == (("strong", 0.4), ("frontier", 0.8))


def test_artifact_path_is_relative_to_the_file(tmp_path: Path) -> None:
    config = load_routing_config(write(tmp_path, GOOD + "classifier:\n  artifact: ../models/x\n"))
    assert config.artifact_path() == (tmp_path.parent / "models" / "x").resolve()


def test_config_is_immutable() -> None:
    config = parse_routing_config(config_data())
    assert isinstance(config, RoutingConfig)
    with pytest.raises(ValueError):
        setattr(config, "default_tier", "strong")  # noqa: B010
