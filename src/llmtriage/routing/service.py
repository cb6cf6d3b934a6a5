"""The routing service: config + classifier + providers, resolved once at start-up.

`build_routing(config, scorer, http_client=…, env=…)` reads each deployment's key
from `env` (missing keys are recorded, not fatal: such deployments answer 503)
and builds one provider per deployment on the one shared httpx client.

`complete` and `stream` run the decided deployment through a fallback chain
(llmtriage.fallback): with `fallback.enabled` (the default) the tier's other deployments
and the neighbouring tier back it up, under one deadline and per-deployment circuit
breakers kept in `breaker_store`; without it the chain is the single decided call. A
stream that breaks after part of its answer was sent goes on down the same chain from
that part (`fallback.mid_stream: resume`, routing/streaming.py).

When `decision.cascade` is set, the cascade (routing/cascading.py's `Cascader`) runs: the
cheap tier answers first (its own deployments as the chain, no neighbour tiers) and the
confidence check decides whether that answer is served or the decided (strong) chain is
called as well; the cost is then both calls'. A stream's cheap answer is fetched whole,
checked, and replayed as chunks when accepted; when escalated the strong chain streams.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import httpx

from llmtriage.cascade import CombinedConfidence
from llmtriage.fallback import (
    Attempt,
    Breakers,
    BreakerSettings,
    Chain,
    ChainSettings,
    FallbackMetrics,
    RetryPolicy,
    chain_order,
)
from llmtriage.fallback.resume import continuation
from llmtriage.providers import PROVIDERS, Endpoint, Provider, ProviderKind, Timeouts
from llmtriage.providers.errors import ProviderKeyMissing
from llmtriage.providers.transport import PoolLimits, open_client
from llmtriage.providers.types import ChatRequest, ChatResponse
from llmtriage.routing.auth import ClientKeys, bearer_token, hash_key
from llmtriage.routing.cascading import CascadeInfo, Cascader, Served, load_confidence
from llmtriage.routing.config import (
    DeploymentConfig,
    FallbackConfig,
    RoutingConfig,
    UpstreamConfig,
)
from llmtriage.routing.cost import cost_usd
from llmtriage.routing.decision import Decision
from llmtriage.routing.errors import ClientAuthError
from llmtriage.routing.router import Router
from llmtriage.routing.streaming import Leg, Opened, RoutedStream, opening
from llmtriage.scoring.scorer import Scorer
from llmtriage.store.base import Store
from llmtriage.store.decision_cache import CachedScore, ScopedCache
from llmtriage.store.keys import KeySpace
from llmtriage.store.memory import MemoryStore

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


@dataclass(frozen=True)
class Completion:
    decision: Decision
    response: ChatResponse
    cost: Decimal | None  # None: the provider reported no usage
    served: ResolvedDeployment | None = None  # the deployment that answered
    attempts: tuple[Attempt, ...] = ()  # every call and skip of its fallback chain(s)
    cascade: CascadeInfo | None = None  # None: the cascade did not run

    @property
    def escalated(self) -> bool:
        return self.cascade is not None and self.cascade.escalated

    @property
    def cascade_reason(self) -> str | None:
        return self.cascade.reason if self.cascade is not None else None


class RoutingService:
    def __init__(
        self,
        *,
        config: RoutingConfig,
        router: Router,
        deployments: Mapping[str, ResolvedDeployment],
        client_keys: ClientKeys,
        score_cache: ScopedCache | None = None,
        fallback: Chain | None = None,
        confidence: CombinedConfidence | None = None,
    ) -> None:
        self.config = config
        self.confidence = confidence  # the cascade's check; None: the cascade is off
        self.router = router
        self.deployments = dict(deployments)
        self.client_keys = client_keys
        self.fallback = fallback or Chain(ChainSettings(enabled=False))
        self.score_cache = score_cache  # classifier scores shared across replicas
        self.cascader: Cascader | None = None  # None: the cascade is off
        if confidence is not None:
            calls = (self._complete_on, self._open_stream)  # each tier's fallback chain
            self.cascader = Cascader(confidence, config.cascade.cheap_tier, router.catalog, *calls)

    @property
    def missing_keys(self) -> dict[str, str]:
        """Deployment name -> the environment variable that would hold its key."""
        return {name: d.missing_env for name, d in self.deployments.items() if d.missing_env}

    def authorize(self, authorization: str | None) -> None:
        if not self.client_keys.verify(bearer_token(authorization)):
            raise ClientAuthError(
                "Incorrect or missing API key: send 'Authorization: Bearer <key>'"
            )

    async def decide(self, request: ChatRequest, headers: Mapping[str, str]) -> Decision:
        """The router's decision; the classifier's score comes from the decision cache when
        this text was scored before (by any replica), and is cached when it was not. The
        cache is asked only when the request would reach the classifier."""
        cache = self.score_cache
        text = None if cache is None else self.router.classifier_text(request, headers)
        if cache is None or text is None:
            return self.router.decide(request, headers)
        # Per client key when auth is on, so no tenant can probe another's prompts.
        token = bearer_token(headers.get("authorization")) if self.client_keys.required else None
        key, hit = await cache.lookup(text, hash_key(token) if token else None)
        if hit is not None:
            return self.router.decide(
                request, headers, known_score=hit.score, known_novelty=hit.novelty
            )
        decision = self.router.decide(request, headers)
        if decision.score is not None:
            await cache.put(key, CachedScore(decision.score, novelty=decision.novelty))
        return decision

    async def complete(self, request: ChatRequest, headers: Mapping[str, str]) -> Completion:
        decision = await self.decide(request, headers)
        if decision.cascade and self.cascader is not None:
            final, cost, attempts, info = await self.cascader.answer(decision, request)
            resolved = self._resolved(final)
            return Completion(decision, final.response, cost, resolved, attempts, info)
        served = await self._complete_on(decision, request)
        return Completion(
            decision, served.response, served.cost, self._resolved(served), served.attempts
        )

    async def stream(self, request: ChatRequest, headers: Mapping[str, str]) -> RoutedStream:
        """Decide, call, and wait for the first chunk, so that upstream errors surface (and
        fall back) before the client has been sent a status line."""
        decision = await self.decide(request, headers)
        if decision.cascade and self.cascader is not None:
            return await self.cascader.stream(decision, request)
        return await self._open_stream(decision, request)

    async def _complete_on(
        self, decision: Decision, request: ChatRequest, neighbours: str | None = None
    ) -> Served:
        async def call(target: ResolvedDeployment, timeouts: Timeouts) -> ChatResponse:
            return await target.require_provider().complete(request, timeout=timeouts)

        answered = await self.fallback.run(self._targets(decision, neighbours), call)
        served, response = answered.target, answered.value
        if not response.model:
            response.model = served.config.model
        cost = cost_usd(response.usage, served.config) if response.usage else None
        return Served(response, served.config, served.tier, tuple(answered.attempts), cost)

    async def _open_stream(self, decision: Decision, request: ChatRequest) -> RoutedStream:
        def caller(req: ChatRequest) -> Callable[[ResolvedDeployment, Timeouts], Awaitable[Opened]]:
            async def call(target: ResolvedDeployment, timeouts: Timeouts) -> Opened:
                return await opening(target.require_provider().stream(req, timeout=timeouts))

            return call

        answered = await self.fallback.run(
            self._targets(decision), caller(request), settle_later=True
        )
        served, (head, rest) = answered.target, answered.value

        async def resume(partial: str) -> Leg | None:
            """The rest of the chain, asked to continue the answer from `partial`."""
            nonlocal answered
            if not answered.can_resume:
                return None
            answered = await answered.resume(caller(continuation(request, partial)))
            served, (head, rest) = answered.target, answered.value
            return Leg(served.config, served.tier, head, rest, answered.settle)

        return RoutedStream(
            decision,
            served.config,
            head,
            rest,
            tier=served.tier,
            attempts=answered.attempts,
            on_end=answered.settle,
            resume=resume if self.config.fallback.mid_stream == "resume" else None,
        )

    def _resolved(self, served: Served) -> ResolvedDeployment:
        return self.deployments[served.deployment.name]

    def _targets(
        self, decision: Decision, neighbours: str | None = None
    ) -> list[ResolvedDeployment]:
        """The decided deployment, then its fallbacks in order (fallback/plan.py);
        `neighbours` overrides the config's neighbour_tiers."""
        if not self.fallback.settings.enabled:
            return [self.deployments[decision.deployment]]
        catalog = self.router.catalog
        names = chain_order(
            [(tier, [d.name for d in catalog.by_tier[tier]]) for tier in catalog.tiers],
            tier=decision.tier,
            first=decision.deployment,
            neighbours=neighbours or self.config.fallback.neighbour_tiers,
            forbidden=decision.forbidden_tiers,
            usable=lambda name: name not in catalog.unavailable,
        )
        return [self.deployments[name] for name in names]


def build_routing(
    config: RoutingConfig,
    scorer: Scorer | None,
    *,
    http_client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind] = PROVIDERS,
    score_cache: ScopedCache | None = None,
    breaker_store: Store | None = None,
    breaker_keys: KeySpace | None = None,
    fallback_metrics: FallbackMetrics | None = None,
) -> RoutingService:
    """`breaker_store` holds the circuit breakers (the app's FailOpenStore over Redis, to
    share them across replicas; None: a MemoryStore of this process), under
    `breaker_keys` (the store config's KeySpace). `fallback_metrics`: None, no metrics."""
    on_malformed = fallback_metrics.malformed if fallback_metrics is not None else None
    deployments = {
        d.name: _resolve(d, tier.name, config, http_client, env, providers, on_malformed)
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
        confidence=load_confidence(config, scorer),
        router=router,
        deployments=deployments,
        client_keys=ClientKeys(config.auth.api_key_hashes),
        score_cache=score_cache,
        fallback=_chain(config.fallback, breaker_store, breaker_keys, fallback_metrics),
    )


def _chain(
    config: FallbackConfig,
    store: Store | None,
    keys: KeySpace | None,
    metrics: FallbackMetrics | None,
) -> Chain:
    retry = RetryPolicy(
        max_retries=config.max_retries,
        max_wait_s=config.max_retry_wait_s,
        backoff_base_s=config.backoff.base_s,
        backoff_max_s=config.backoff.max_s,
    )
    settings = ChainSettings(enabled=config.enabled, deadline_s=config.deadline_s, retry=retry)
    breakers = None
    if config.enabled and config.breaker.enabled:
        b = config.breaker
        breakers = Breakers(
            store if store is not None else MemoryStore(),
            BreakerSettings(
                window_s=b.window_s,
                min_calls=b.min_calls,
                failure_rate=b.failure_rate,
                failure_count=b.failure_count,
                consecutive=b.consecutive_failures,
                cooldown_s=b.cooldown_s,
                sync_s=b.sync_s,
            ),
            keys=keys,
            on_state=metrics.breaker if metrics is not None else None,
        )
    return Chain(settings, breakers=breakers, metrics=metrics)


def _resolve(
    deployment: DeploymentConfig,
    tier: str,
    config: RoutingConfig,
    client: httpx.AsyncClient,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind],
    on_malformed: Callable[[str], None] | None = None,
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


@asynccontextmanager
async def open_routing(
    config: RoutingConfig,
    scorer: Scorer | None,
    *,
    env: Mapping[str, str],
    providers: Mapping[str, ProviderKind] = PROVIDERS,
    score_cache: ScopedCache | None = None,
    breaker_store: Store | None = None,
    breaker_keys: KeySpace | None = None,
    fallback_metrics: FallbackMetrics | None = None,
) -> AsyncIterator[RoutingService]:
    """A service that owns its httpx client: use from the app's lifespan."""
    async with upstream_client(config.upstream) as client:
        yield build_routing(
            config,
            scorer,
            http_client=client,
            env=env,
            providers=providers,
            score_cache=score_cache,
            breaker_store=breaker_store,
            breaker_keys=breaker_keys,
            fallback_metrics=fallback_metrics,
        )


def upstream_client(config: UpstreamConfig) -> httpx.AsyncClient:
    """The providers' shared client, as `config.upstream` asks."""
    limits = PoolLimits(
        max_connections=config.max_connections,
        max_keepalive=config.max_keepalive,
        keepalive_expiry_s=config.keepalive_expiry_s,
    )
    return open_client(limits, lean=config.transport == "lean")
