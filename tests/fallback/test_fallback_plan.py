"""Chain order: the chosen deployment, its tier, then the neighbouring tier(s)."""

from __future__ import annotations

import pytest

from llmtriage.fallback.plan import chain_order

TIERS = [("cheap", ["c1", "c2"]), ("mid", ["m1", "m2"]), ("strong", ["s1"])]


@pytest.mark.parametrize(
    ("neighbours", "expected"),
    [
        ("up", ["m2", "m1", "s1"]),
        ("down", ["m2", "m1", "c1", "c2"]),
        ("both", ["m2", "m1", "s1", "c1", "c2"]),
        ("none", ["m2", "m1"]),
    ],
)
def test_neighbour_tiers(neighbours: str, expected: list[str]) -> None:
    assert chain_order(TIERS, tier="mid", first="m2", neighbours=neighbours) == expected


def test_only_the_nearest_tier_is_a_neighbour() -> None:
    assert chain_order(TIERS, tier="cheap", first="c1", neighbours="up") == ["c1", "c2", "m1", "m2"]
    assert chain_order(TIERS, tier="strong", first="s1", neighbours="up") == ["s1"]


def test_forbidden_tiers_are_never_entered() -> None:
    order = chain_order(TIERS, tier="cheap", first="c1", neighbours="up", forbidden={"mid"})
    assert order == ["c1", "c2", "s1"]  # the nearest allowed tier above
    order = chain_order(
        TIERS, tier="cheap", first="c1", neighbours="up", forbidden={"mid", "strong"}
    )
    assert order == ["c1", "c2"]


def test_deployments_without_a_key_are_left_out_but_the_chosen_one() -> None:
    order = chain_order(
        TIERS, tier="cheap", first="c1", neighbours="up", usable=lambda d: d not in {"c1", "m1"}
    )
    assert order == ["c1", "c2", "m2"]
