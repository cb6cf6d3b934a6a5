"""What a config that says nothing about timeouts, retries or fallback gets: the packaged
defaults, the same in code and in defaults/routing.yaml."""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx
import yaml

from llmtriage.providers import PROVIDERS
from llmtriage.routing import parse_routing_config
from llmtriage.service import build_routing
from tests.routing.configs import config_data, deployment

PACKAGED = yaml.safe_load(
    resources.files("llmtriage.defaults").joinpath("routing.yaml").read_text()
)


def bare() -> dict[str, Any]:
    tiers = [{"name": "cheap", "deployments": [deployment("c1", "m-c1")]}]
    return config_data(tiers=tiers, rules=[], classifier={"enabled": False})


async def test_deployments_get_every_timeout_by_default() -> None:
    async with httpx.AsyncClient() as client:
        service = build_routing(
            parse_routing_config(bare()), None, http_client=client, env={}, providers=PROVIDERS
        )
    t = service.deployments["c1"].timeouts
    assert (t.connect, t.first_token, t.idle, t.read, t.total) == (5, 10, 15, 60, 300)


def test_the_packaged_file_states_the_code_defaults() -> None:
    stated = parse_routing_config({**bare(), "timeouts": PACKAGED["timeouts"]})
    assert stated.timeouts == parse_routing_config(bare()).timeouts
