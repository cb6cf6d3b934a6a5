"""Request cost in USD from usage and the deployment's per-million-token prices.

Decimal, not float: cost is summed across requests and compared exactly in
tests; prices come from YAML as short decimals (0.15, 2.5) and stay exact.
"""

from __future__ import annotations

from decimal import Decimal

from llmtriage.providers.types import Usage
from llmtriage.routing.config import DeploymentConfig

_MILLION = Decimal(1_000_000)


def cost_usd(usage: Usage, deployment: DeploymentConfig) -> Decimal:
    prompt = Decimal(usage.prompt_tokens) * deployment.input_price_per_mtok
    completion = Decimal(usage.completion_tokens) * deployment.output_price_per_mtok
    return (prompt + completion) / _MILLION


def format_cost(cost: Decimal | None) -> str:
    """Plain decimal notation (no exponent), e.g. `0.0000105`; `unknown` without usage."""
    if cost is None:
        return "unknown"
    return format(cost.normalize(), "f")
