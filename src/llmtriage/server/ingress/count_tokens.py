"""`POST /v1/messages/count_tokens`: Anthropic's own count when the request would be
routed to an Anthropic deployment (the body forwarded, model replaced), else llmtriage's
estimate (routing/tokens.py: about four characters a token). The answer says which in
`x-llmtriage-token-count: exact | estimate`; an Anthropic deployment that cannot be
asked (no key, or its count_tokens call failed) gives the estimate, so said.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from llmtriage.errors import ProviderError
from llmtriage.execution.deployments import ResolvedDeployment
from llmtriage.providers.base import Timeouts
from llmtriage.providers.types import ChatRequest, JSONObject
from llmtriage.routing.tokens import estimate_request

log = logging.getLogger(__name__)
COUNT_HEADER = "x-llmtriage-token-count"


@runtime_checkable
class CountsTokens(Protocol):
    """A provider that can count a Messages body's tokens (the Anthropic provider)."""

    async def count_tokens(
        self, body: JSONObject, headers: Mapping[str, str], *, timeout: Timeouts
    ) -> int: ...


async def count_tokens(
    deployment: ResolvedDeployment,
    chat: ChatRequest,
    body: JSONObject,
    headers: Mapping[str, str],
) -> tuple[int, str]:
    """(input tokens, "exact" | "estimate")."""
    provider = deployment.provider
    if isinstance(provider, CountsTokens):
        try:
            return await provider.count_tokens(body, headers, timeout=deployment.timeouts), "exact"
        except ProviderError as exc:
            log.warning("count_tokens on %s failed (%s): estimated", deployment.name, exc)
    return estimate_request(chat), "estimate"
