"""Small routing configs for tests, as plain data (what YAML would load to)."""

from __future__ import annotations

import copy
from typing import Any


def deployment(
    name: str, model: str, *, provider: str = "fake", window: int = 100_000, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "provider": provider,
        "model": model,
        "input_price_per_mtok": 0.15,
        "output_price_per_mtok": 0.6,
        "context_window": window,
        **extra,
    }


BASE: dict[str, Any] = {
    "tiers": [
        {
            "name": "cheap",
            "deployments": [
                deployment("mini", "gpt-mini", window=1000),
                deployment("mini-long", "gpt-mini-long"),
            ],
        },
        {"name": "strong", "deployments": [deployment("big", "gpt-big")]},
    ],
    "rules": [
        {
            "id": "free",
            "match": {"headers": {"X-User-Tier": "free"}},
            "action": "forbid_tiers",
            "tiers": ["strong"],
        },
        {"id": "tools", "match": {"has_tools": True}, "action": "route_to_tier", "tier": "strong"},
        {
            "id": "summaries",
            "match": {"headers": {"x-feature": ["summarise", "tldr"]}},
            "action": "route_to_tier",
            "tier": "cheap",
        },
        {
            "id": "greeting",
            "match": {"last_user_regex": "(?i)^(hi|hello)\\b"},
            "action": "route_to_deployment",
            "deployment": "mini",
        },
        {
            "id": "legacy-big",
            "match": {"model": "legacy"},
            "action": "route_to_tier",
            "tier": "strong",
        },
        {
            "id": "mini-classified",
            "match": {"model": "gpt-mini", "headers": {"x-request-type": "auto"}},
            "action": "classify",
        },
    ],
    "auto_model_names": ["auto", "router", "legacy"],
}


def config_data(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(overrides)
    return data
