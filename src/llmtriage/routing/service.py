"""The routing service: config + classifier + providers, resolved once at start-up.

`build_routing(config, scorer, http_client=…, env=…)` reads each deployment's key
from `env` (missing keys are recorded, not fatal: such deployments answer 503)
and builds one provider per deployment on the one shared httpx client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import httpx

from llmtriage.providers import PROVIDERS, Endpoint, Provider, ProviderKind, Timeouts
from llmtriage.providers.errors import ProviderKeyMissing
from llmtriage.providers.types import ChatRequest, ChatResponse
from llmtriage.routing.auth import ClientKeys, bearer_token
from llmtriage.routing.config import DeploymentConfig, RoutingConfig
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision
from llmtriage.routing.errors import ClientAuthError
from llmtriage.routing.router import Router
from llmtriage.routing.streaming import RoutedStream
from llmtriage.scoring.scorer import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedDeployment:
    config: DeploymentConfig
    tier: str
    timeouts: Timeouts
    provider: Provider | None  # None: its API key is missing from the environment
    missing_env: str | None = None

    def require_provider(self) -> Provider:
        if self.provider is None:
            raise ProviderKeyMissing(deployment=self.config.name, env_var=self.missing_env or "")
        return self.provider


@dataclass(frozen=True)
class Completion:
    decision: Decision
    response: ChatResponse
    cost: Decimal | None  # None: the provider reported no usage


class RoutingService:
    def __init__(
        self,
        *,
        config: RoutingConfig,
        router: Router,
        deployments: Mapping[str, ResolvedDeployment],
        client_keys: ClientKeys,
    ) -> None:
        self.config = config
        self.router = router
        self.deployments = dict(deployments)
        self.client_keys = client_keys

    @property
    def missing_keys(self) -> dict[str, str]:
        """Deployment name -> the environment variable that would hold its key."""
        return {name: d.missing_env for name, d in self.deployments.items() if d.missing_env}

    def authorize(self, authorization: str | None) -> None:
        if not self.client_keys.verify(bearer_token(authorization)):
            raise ClientAuthError(
                "Incorrect or missing API key: send 'Authorization: Bearer <key>'"
            )

    def decide(self, request: ChatRequest, headers: Mapping[str, str]) -> Decision:
        return self.router.decide(request, headers)

    async def complete(self, request: ChatRequest, headers: Mapping[str, str]) -> Completion:
        decision = self.decide(request, headers)
        deployment = self.deployments[decision.deployment]
        provider = deployment.require_provider()
        response = await provider.complete(request, timeout=deployment.timeouts)
        if not response.model:
            response.model = deployment.config.model
        cost = cost_usd(response.usage, deployment.config) if response.usage else None
        return Completion(decision, response, cost)

    async def stream(self, request: ChatRequest, headers: Mapping[str, str]) -> RoutedStream:
        """Decide, call, and wait for the first chunk, so that upstream errors surface
        before the client has been sent a status line."""
        decision = self.decide(request, headers)
        deployment = self.deployments[decision.deployment]
        provider = deployment.require_provider()
        chunks = provider.stream(request, timeout=deployment.timeouts)
        return await RoutedStream.open(decision, deployment.config, chunks)


def build_routing(
    config: RoutingConfig,
    scorer: Scorer | None,
    *,
    http_client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind] = PROVIDERS,
) -> RoutingService:
    deployments = {
        d.name: _resolve(d, tier.name, config, http_client, env, providers)
        for tier in config.tiers
        for d in tier.deployments
    }
    unavailable = frozenset(name for name, d in deployments.items() if d.provider is None)
    router = Router.from_config(config, scorer, unavailable=unavailable)
    for name, resolved in deployments.items():
        if resolved.missing_env:
            log.warning(
                "deployment %s has no API key (%s is not set): it answers 503",
                name,
                resolved.missing_env,
            )
    return RoutingService(
        config=config,
        router=router,
        deployments=deployments,
        client_keys=ClientKeys(config.auth.api_key_hashes),
    )


def _resolve(
    deployment: DeploymentConfig,
    tier: str,
    config: RoutingConfig,
    client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind],
) -> ResolvedDeployment:
    timeouts = (deployment.timeouts or config.timeouts).value()
    key_env = deployment.api_key_env
    api_key = env.get(key_env) if key_env else None
    if key_env and not api_key:
        return ResolvedDeployment(deployment, tier, timeouts, None, missing_env=key_env)
    kind = providers[deployment.provider]
    endpoint = Endpoint(
        deployment=deployment.name,
        model=deployment.model,
        base_url=deployment.base_url or kind.default_base_url,
        api_key=api_key,
        headers=dict(deployment.headers),
        max_output_tokens=deployment.max_output_tokens,
    )
    return ResolvedDeployment(deployment, tier, timeouts, kind.build(endpoint, client=client))


@asynccontextmanager
async def open_routing(
    config: RoutingConfig,
    scorer: Scorer | None,
    *,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind] = PROVIDERS,
    limits: httpx.Limits | None = None,
) -> AsyncIterator[RoutingService]:
    """A service that owns its httpx client: use from the app's lifespan."""
    limits = limits or httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits) as client:
        yield build_routing(config, scorer, http_client=client, env=env, providers=providers)
