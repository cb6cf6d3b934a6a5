"""Which deployments a request may fall back to, in order (pure: no I/O, no state).

    1. the deployment the router chose,
    2. the rest of its tier, in config order,
    3. the neighbouring tier(s) by `neighbour_tiers`: "up" the nearest stronger tier,
       "down" the nearest cheaper one, "both" up then down, "none" neither.

Tiers a forbid_tiers rule ruled out are never entered (a fallback must not lift a
restriction); deployments without an API key are left out, except the chosen one, whose
failure then explains itself in the attempt list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

Tiers = Sequence[tuple[str, Sequence[str]]]  # (tier, its deployments), cheapest tier first


def _up(allowed: Sequence[int], at: int) -> list[int]:
    return [i for i in allowed if i > at][:1]


def _down(allowed: Sequence[int], at: int) -> list[int]:
    return [i for i in allowed if i < at][-1:]


NEIGHBOURS: dict[str, Callable[[Sequence[int], int], list[int]]] = {
    "up": _up,
    "down": _down,
    "both": lambda allowed, at: _up(allowed, at) + _down(allowed, at),
    "none": lambda allowed, at: [],
}


def chain_order(
    tiers: Tiers,
    *,
    tier: str,
    first: str,
    neighbours: str,
    forbidden: Collection[str] = (),
    usable: Callable[[str], bool] = lambda _: True,
) -> list[str]:
    names = [name for name, _ in tiers]
    at = names.index(tier)
    allowed = [i for i, name in enumerate(names) if name not in forbidden or i == at]
    order = [first]
    for index in [at, *NEIGHBOURS[neighbours](allowed, at)]:
        order += [d for d in tiers[index][1] if d not in order and usable(d)]
    return order
