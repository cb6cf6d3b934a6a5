"""The routing config: one YAML file, validated at start-up, errors with file:line.

Shape (see `defaults/routing.yaml` for a commented example):

    tiers:                      # cheapest first, any number
      - name: cheap
        deployments:            # the first that fits the prompt serves; the rest back it up
          - {name, provider, model, base_url?, api_key_env?, input_price_per_mtok,
             output_price_per_mtok, context_window, headers?, max_output_tokens?, timeouts?,
             max_retries?}
    classifier: {enabled, artifact?, thresholds?: {tier: min score, … every tier but the first}}
    rules: [{id, match: {...}, action, …}]   # route_to_tier | route_to_deployment |
                                             # forbid_tiers | classify | no_cascade
    auto_model_names: [auto]
    default_tier: <tier>        # used when the classifier is off
    timeouts: {connect, first_token, idle, read, total}  # a deployment's own overrides fields
    auth: {api_key_hashes: [sha256 hex, …]}
    cascade: {enabled, cheap_tier, strong_tier, signals, threshold, band: [low, high],
              verifier_path?}   # llmtriage.cascade.config.CascadeConfig; off by default
    fallback: {enabled, deadline_s, neighbour_tiers, max_retries, max_retry_wait_s,
               backoff: {base_s, max_s}, breaker: {...}}   # on by default
    exploration: {epsilon, routers: {auto name: ε}, seed?}  # off by default
    shadow: {fraction, routers: {auto name: fraction}, judge: <deployment>,
             max_per_minute, max_usd_per_day, template?, ...}  # off by default

API keys never appear in the file: `api_key_env` names the environment variable.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from llmtriage.cascade.config import CascadeConfig
from llmtriage.providers import PROVIDERS
from llmtriage.providers.base import Timeouts
from llmtriage.routing.yaml_source import YamlSource

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamConfig(_Strict):
    """The HTTP client the providers share. `lean` (default): httpx over llmtriage's
    HTTP/1.1 transport (providers/transport.py, ~0.5 ms less CPU per call), which passes
    the whole transport conformance suite (OpenTelemetry's httpx spans, every httpx
    timeout, 1xx, pool limits, keep-alive; tests/providers/test_transport_conformance.py);
    `httpx`: httpx's own transport (httpcore), which passes it too bar leaving a given SSL
    context's ALPN alone, e.g. to rule the lean one out when debugging. With a proxy set
    in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) `lean` uses httpx's own too."""

    transport: Literal["lean", "httpx"] = "lean"
    max_connections: int = Field(default=1000, ge=1)
    max_keepalive: int = Field(default=200, ge=0)
    keepalive_expiry_s: float = Field(default=4.0, gt=0)


class TimeoutsConfig(_Strict):
    """Seconds (providers/base.py `Timeouts` says what each bounds). null for first_token
    or idle: no bound beyond read and total."""

    connect: float = Field(default=5.0, gt=0)
    first_token: float | None = Field(default=10.0, gt=0)  # a stream's first event
    idle: float | None = Field(default=15.0, gt=0)  # a stream's longest silence between events
    read: float = Field(default=60.0, gt=0)
    total: float = Field(default=300.0, gt=0)

    def value(self) -> Timeouts:
        return Timeouts(
            connect=self.connect,
            read=self.read,
            total=self.total,
            first_token=self.first_token,
            idle=self.idle,
        )

    def overridden_by(self, other: TimeoutsConfig | None) -> TimeoutsConfig:
        """These defaults with the fields `other` sets (a deployment names only what differs)."""
        if other is None:
            return self
        return self.model_copy(update=other.model_dump(exclude_unset=True))


class DeploymentConfig(_Strict):
    name: str = Field(min_length=1)
    provider: str
    model: str = Field(min_length=1)
    base_url: str | None = None  # None: the provider kind's public endpoint
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME)  # None: send no key
    input_price_per_mtok: Decimal = Field(ge=0)
    output_price_per_mtok: Decimal = Field(ge=0)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=4096, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutsConfig | None = None  # fields set here override the top-level ones
    max_retries: int | None = Field(default=None, ge=0)  # None: fallback.max_retries

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider '{value}' (known: {', '.join(PROVIDERS)})")
        return value


class TierConfig(_Strict):
    name: str = Field(min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)


_ON_NOVEL = re.compile(r"^(score|cascade|tier [A-Za-z0-9_.-]+)$")


class ClassifierConfig(_Strict):
    enabled: bool = True
    artifact: str | None = None  # relative to the config file; the server may pass its own
    # Minimum score per tier, every tier but the cheapest. None: the artifact's cut-points.
    thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] | None = None
    # What to do with a prompt the artifact's novelty model flags as unlike its training
    # data: `score` (route by the score anyway), `cascade` (the cascade's strong tier,
    # cheap tier tried first), or `tier NAME` (that tier).
    on_novel: str = "score"

    @field_validator("on_novel")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if not _ON_NOVEL.match(value):
            raise ValueError("on_novel must be 'score', 'cascade' or 'tier NAME'")
        return value

    @property
    def novel_tier(self) -> str | None:
        return self.on_novel.removeprefix("tier ") if self.on_novel.startswith("tier ") else None


class MatchConfig(_Strict):
    """All given conditions must hold; an empty match always holds."""

    headers: dict[str, str | list[str]] = Field(default_factory=dict)
    model: str | list[str] | None = None
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    has_tools: bool | None = None
    has_images: bool | None = None
    json_mode: bool | None = None
    last_user_regex: str | None = None

    @field_validator("headers")
    @classmethod
    def _lower_names(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        return {name.lower(): wanted for name, wanted in value.items()}

    @field_validator("last_user_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class _Rule(_Strict):
    id: str = Field(min_length=1)
    description: str = ""
    match: MatchConfig = Field(default_factory=MatchConfig)


class RouteToTier(_Rule):
    action: Literal["route_to_tier"]
    tier: str


class RouteToDeployment(_Rule):
    action: Literal["route_to_deployment"]
    deployment: str


class ForbidTiers(_Rule):
    action: Literal["forbid_tiers"]
    tiers: list[str] = Field(min_length=1)


class Classify(_Rule):
    action: Literal["classify"]


class NoCascade(_Rule):
    """Matching requests skip the cascade (e.g. latency-critical traffic)."""

    action: Literal["no_cascade"]


RuleConfig = Annotated[
    RouteToTier | RouteToDeployment | ForbidTiers | Classify | NoCascade,
    Field(discriminator="action"),
]


class AuthConfig(_Strict):
    api_key_hashes: list[str] = Field(default_factory=list)  # empty: no client auth

    @field_validator("api_key_hashes")
    @classmethod
    def _hex(cls, value: list[str]) -> list[str]:
        for digest in value:
            if not _SHA256.match(digest):
                raise ValueError(
                    "each entry must be a lowercase sha256 hex digest (64 chars), not a key"
                )
        return value


class BackoffConfig(_Strict):
    """Exponential backoff with full jitter: retry n waits uniform(0, min(max_s, base_s·2^n))."""

    base_s: float = Field(default=0.25, gt=0)
    max_s: float = Field(default=4.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.max_s < self.base_s:
            raise ValueError("backoff.max_s must be at least backoff.base_s")
        return self


class BreakerConfig(_Strict):
    """One circuit breaker per deployment, shared across replicas through the store."""

    enabled: bool = True
    window_s: float = Field(default=30.0, ge=0.1)  # sliding window the outcomes are counted in
    min_calls: int = Field(default=10, ge=1)  # the rate trips only with this many in the window
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    failure_count: int | None = Field(default=None, ge=1)  # trips at this many, whatever the rate
    consecutive_failures: int | None = Field(default=5, ge=1)  # in a row: trips at any traffic
    cooldown_s: float = Field(default=15.0, gt=0)  # open this long, then one probe is let through
    sync_s: float = Field(default=0.25, ge=0)  # another replica's trip reaches this one within


class FallbackConfig(_Strict):
    """Fallback chains (off: one attempt, errors pass through as they are). See fallback/."""

    enabled: bool = True
    deadline_s: float = Field(default=300.0, gt=0)  # bounds the whole request, streams included
    neighbour_tiers: Literal["up", "down", "both", "none"] = "up"  # after the tier's own list
    max_retries: int = Field(default=1, ge=0)  # same-deployment retries (429, 5xx, resets)
    max_retry_wait_s: float = Field(default=5.0, ge=0)  # a longer Retry-After: move on instead
    max_malformed_chunks: int = Field(default=3, ge=0)  # per stream skipped; one more breaks it
    # A stream that breaks after part of the answer was sent: go on on the next deployment
    # from that part (resume), or end it with an error event (error).
    mid_stream: Literal["resume", "error"] = "resume"
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)


class ExplorationConfig(_Strict):
    """ε-exploration (llmtriage.learning.exploration): with probability ε a classifier
    decision goes to another allowed tier, uniformly, and its propensity is logged for
    offline replay. `epsilon` for every auto model name, `routers` per name; off (0)."""

    epsilon: float = Field(default=0.0, ge=0.0, le=1.0)
    routers: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    seed: int | None = None  # fixed: the same choices every run (tests)


class ShadowConfig(_Strict):
    """Shadow comparisons (llmtriage.learning.shadow): for `fraction` of the answered
    requests of each auto model name (`routers` per name), the other tier answers the same
    request off the request path and the `judge` deployment compares the two answers
    (learning/judge.py; `template`: a prompt file, relative to this config, replacing the
    documented default). Capped at `max_per_minute` shadowed requests and `max_usd_per_day`
    of shadow plus judge cost (per replica); off (0) by default. Needs the decision log."""

    fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    routers: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    judge: str | None = None  # a deployment name
    template: str | None = None
    max_per_minute: float = Field(default=60.0, gt=0)
    max_usd_per_day: Decimal = Field(default=Decimal("5"), ge=0)
    judge_max_tokens: int = Field(default=16, gt=0)
    queue_size: int = Field(default=1000, ge=1)
    concurrency: int = Field(default=2, ge=1, le=64)  # shadow jobs run at once
    seed: int | None = None  # fixed: the same sample every run (tests)

    @property
    def active(self) -> bool:
        return self.fraction > 0 or any(f > 0 for f in self.routers.values())


class RoutingConfig(_Strict):
    version: Literal[1] = 1
    tiers: list[TierConfig] = Field(min_length=1)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    rules: list[RuleConfig] = Field(default_factory=list)
    auto_model_names: list[str] = Field(default_factory=lambda: ["auto"], min_length=1)
    default_tier: str | None = None  # None: the cheapest tier
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)

    _source: YamlSource = PrivateAttr(default_factory=lambda: YamlSource("<routing config>", None))

    def with_source(self, source: YamlSource) -> RoutingConfig:
        self._source = source
        return self

    @property
    def source(self) -> YamlSource:
        """Where the config came from, to name file and line in later errors."""
        return self._source

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]

    def artifact_path(self) -> Path | None:
        artifact = self.classifier.artifact
        if artifact is None:
            return None
        return self._relative(artifact)

    def verifier_path(self) -> Path | None:
        """The cascade verifier's folder, relative to the config file (or absolute)."""
        path = self.cascade.verifier_path
        return None if path is None else self._relative(path)

    def shadow_template_path(self) -> Path | None:
        """The judge prompt file, relative to the config file (or absolute)."""
        path = self.shadow.template
        return None if path is None else self._relative(path)

    def _relative(self, path: str) -> Path:
        base = Path(self._source.path).parent if self._source.root is not None else Path.cwd()
        return (base / path).resolve()
