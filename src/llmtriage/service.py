"""The request path, one direction: decide (llmtriage.routing), then execute
(llmtriage.execution) through the providers.

`build_routing(config, scorer, http_client=…, env=…)` resolves each deployment to a
provider on the one shared httpx client, builds the router, the fallback chains and the
cascade, and returns the `RoutingService` the proxy calls:

    decide(request, headers) -> Decision       rules once, then the score (cached or fresh)
    complete(request, headers) -> Completion   decide, then execute the decision whole
    stream(request, headers) -> RoutedStream   decide, then open the decision's stream
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from llmtriage.cascade import CombinedConfidence
from llmtriage.execution import (
    Cascader,
    Chains,
    Completion,
    Executor,
    ResolvedDeployment,
    RoutedStream,
    build_chain,
    load_confidence,
    resolve_deployments,
)
from llmtriage.fallback import FallbackMetrics
from llmtriage.learning.exploration import Explorer
from llmtriage.learning.judge import Judge, load_template
from llmtriage.learning.shadow import Shadower
from llmtriage.providers import PROVIDERS, ProviderKind
from llmtriage.providers.transport import PoolLimits, open_client
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.auth import ClientKeys, bearer_token, hash_key
from llmtriage.routing.config import RoutingConfig, UpstreamConfig
from llmtriage.routing.decision import Decision
from llmtriage.routing.errors import ClientAuthError
from llmtriage.routing.router import Router
from llmtriage.scoring.scorer import Assessment, Scorer
from llmtriage.store.base import Store
from llmtriage.store.decision_cache import CachedScore, ScopedCache
from llmtriage.store.keys import KeySpace


class RoutingService:
    def __init__(
        self,
        *,
        config: RoutingConfig,
        router: Router,
        executor: Executor,
        client_keys: ClientKeys,
        score_cache: ScopedCache | None = None,
        explorer: Explorer | None = None,
        shadower: Shadower | None = None,
    ) -> None:
        self.config = config
        self.router = router
        self.executor = executor
        self.client_keys = client_keys
        self.score_cache = score_cache  # classifier scores shared across replicas
        self.explorer = explorer  # ε-exploration after the router (None: off)
        self.shadower = shadower  # shadow comparisons, started by the app (None: off)

    @property
    def deployments(self) -> Mapping[str, ResolvedDeployment]:
        return self.executor.deployments

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
        """The router's decision (`_decide`), then exploration when it is on."""
        decision = await self._decide(request, headers)
        return decision if self.explorer is None else self.explorer.apply(decision)

    async def _decide(self, request: ChatRequest, headers: Mapping[str, str]) -> Decision:
        """The router's decision, its rules evaluated once. The classifier's score comes
        from the decision cache when this text was scored before (by any replica), and is
        cached when it was not; the cache is asked only when the classifier would run."""
        draft = self.router.draft(request, headers)
        cache = self.score_cache
        if cache is None or draft.text is None:
            return self.router.finish(draft)
        # Per client key when auth is on, so no tenant can probe another's prompts.
        token = bearer_token(headers.get("authorization")) if self.client_keys.required else None
        key, hit = await cache.lookup(draft.text, hash_key(token) if token else None)
        if hit is not None:
            return self.router.finish(draft, Assessment(hit.score, hit.novelty))
        decision = self.router.finish(draft)
        if decision.score is not None:
            await cache.put(key, CachedScore(decision.score, novelty=decision.novelty))
        return decision

    async def complete(self, request: ChatRequest, headers: Mapping[str, str]) -> Completion:
        return await self.executor.complete(await self.decide(request, headers), request)

    async def stream(self, request: ChatRequest, headers: Mapping[str, str]) -> RoutedStream:
        """Decide, call, and wait for the first chunk, so that upstream errors surface (and
        fall back) before the client has been sent a status line."""
        return await self.executor.stream(await self.decide(request, headers), request)


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
    deployments = resolve_deployments(
        config,
        client=http_client,
        env=env,
        providers=providers,
        on_malformed=fallback_metrics.malformed if fallback_metrics is not None else None,
    )
    unavailable = frozenset(name for name, d in deployments.items() if d.provider is None)
    router = Router.from_config(config, scorer, unavailable=unavailable)
    chain = build_chain(config.fallback, breaker_store, breaker_keys, fallback_metrics)
    chains = Chains(deployments, router.catalog, config.fallback, chain)
    confidence = load_confidence(config, scorer)
    explorer = Explorer(config.exploration, router.catalog)
    return RoutingService(
        config=config,
        router=router,
        executor=Executor(chains, _cascader(config, router, chains, confidence)),
        client_keys=ClientKeys(config.auth.api_key_hashes),
        score_cache=score_cache,
        explorer=explorer if explorer.active else None,
        shadower=_shadower(config, chains),
    )


def _shadower(config: RoutingConfig, chains: Chains) -> Shadower | None:
    shadow = config.shadow
    if not shadow.active or shadow.judge is None:  # the loader requires a judge when active
        return None
    template = load_template(config.shadow_template_path())
    judge = Judge(chains.deployments[shadow.judge], template, shadow.judge_max_tokens)
    return Shadower(shadow, chains, judge, auto_names=config.auto_model_names)


def _cascader(
    config: RoutingConfig, router: Router, chains: Chains, confidence: CombinedConfidence | None
) -> Cascader | None:
    if confidence is None:  # the cascade is off
        return None
    return Cascader(confidence, config.cascade.cheap_tier, router.catalog, chains)


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
