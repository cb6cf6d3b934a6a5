"""Each configured deployment resolved once at start-up: its provider, tier, timeouts.

A deployment whose API key is missing from the environment is recorded, not fatal: it
has no provider, the router treats it as unavailable, and naming it answers 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from llmtriage.providers import Endpoint, Provider, ProviderKind, Timeouts
from llmtriage.providers.errors import ProviderKeyMissing
from llmtriage.routing.config import DeploymentConfig, RoutingConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedDeployment:
    config: DeploymentConfig
    tier: str
    timeouts: Timeouts
    provider: Provider | None  # None: its API key is missing from the environment
    missing_env: str | None = None
    max_retries: int = 0  # same-deployment retries in a fallback chain

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def context_window(self) -> int:
        return self.config.context_window

    def require_provider(self) -> Provider:
        if self.provider is None:
            raise ProviderKeyMissing(deployment=self.config.name, env_var=self.missing_env or "")
        return self.provider


def resolve_deployments(
    config: RoutingConfig,
    *,
    client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind],
    on_malformed: Callable[[str], None] | None = None,
) -> dict[str, ResolvedDeployment]:
    """Every deployment of every tier, by name, each with one provider on `client`."""
    deployments = {
        d.name: _resolve(d, tier.name, config, client, env, providers, on_malformed)
        for tier in config.tiers
        for d in tier.deployments
    }
    for name, resolved in deployments.items():
        if resolved.missing_env:
            log.warning(
                "deployment %s has no API key (%s is not set): it answers 503",
                name,
                resolved.missing_env,
            )
    return deployments


def _resolve(
    deployment: DeploymentConfig,
    tier: str,
    config: RoutingConfig,
    client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind],
    on_malformed: Callable[[str], None] | None,
) -> ResolvedDeployment:
    timeouts = config.timeouts.overridden_by(deployment.timeouts).value()
    retries = deployment.max_retries
    if retries is None:
        retries = config.fallback.max_retries
    key_env = deployment.api_key_env
    api_key = env.get(key_env) if key_env else None
    if key_env and not api_key:
        return ResolvedDeployment(
            deployment, tier, timeouts, None, missing_env=key_env, max_retries=retries
        )
    kind = providers[deployment.provider]
    endpoint = Endpoint(
        deployment=deployment.name,
        model=deployment.model,
        base_url=deployment.base_url or kind.default_base_url,
        api_key=api_key,
        headers=dict(deployment.headers),
        max_output_tokens=deployment.max_output_tokens,
        max_malformed_chunks=config.fallback.max_malformed_chunks,
        on_malformed=on_malformed,
    )
    provider = kind.build(endpoint, client=client)
    return ResolvedDeployment(deployment, tier, timeouts, provider, max_retries=retries)
