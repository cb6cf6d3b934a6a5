"""Errors of the routing layer, under the package's one tree (`llmtriage.errors`).

    LlmtriageError
    └── RoutingError
        ├── UnknownModel       the client named a model no auto name, tier or deployment matches
        ├── NoAllowedTier      forbid_tiers rules together ruled out every tier
        └── ClientAuthError    missing or wrong proxy API key

The web layer maps them to 404 / 403 / 401 (server/routes/proxy.py).
"""

from __future__ import annotations

from llmtriage.errors import LlmtriageError


class RoutingError(LlmtriageError):
    """A request the router cannot place."""


class UnknownModel(RoutingError):
    def __init__(self, model: str, *, known: list[str]) -> None:
        shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        super().__init__(
            f"The model '{model}' does not exist or you do not have access to it (known: {shown})"
        )
        self.model = model


class NoAllowedTier(RoutingError):
    def __init__(self, rules: tuple[str, ...]) -> None:
        super().__init__(f"rules {', '.join(rules)} together forbid every tier for this request")
        self.rules = rules


class ClientAuthError(RoutingError):
    """Never carries the presented key."""
