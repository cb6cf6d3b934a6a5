"""What executing a decision yields: one chain's answer (`Served`), what the cascade
did (`CascadeInfo`), and the whole answer handed back to the proxy (`Completion`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from llmtriage.execution.deployments import ResolvedDeployment
from llmtriage.fallback.attempts import Attempt
from llmtriage.providers.types import ChatResponse
from llmtriage.routing.config import DeploymentConfig
from llmtriage.routing.decision import Decision


@dataclass(frozen=True)
class Served:
    """One fallback chain's answer: what answered, how, and what it cost."""

    response: ChatResponse
    deployment: DeploymentConfig
    tier: str
    attempts: tuple[Attempt, ...]
    cost: Decimal | None  # None: the provider reported no usage


@dataclass(frozen=True)
class CascadeInfo:
    """What the cascade did for one request (absent when it did not run)."""

    escalated: bool
    reason: str  # "confident", "cheap_failed" or the deciding signal's reason
    cheap_decision: Decision  # the decision as if routed to the cheap tier (telemetry)
    cheap: Served | None  # the cheap tier's answer; None when its call failed
    cheap_cost: Decimal  # what the cheap attempt cost (0 when it failed)
    cheap_failed: tuple[Attempt, ...] = ()  # the cheap chain's attempts when it failed

    @property
    def header(self) -> str:
        return "escalated" if self.escalated else "accepted"

    @property
    def cheap_attempts(self) -> tuple[Attempt, ...]:
        return self.cheap.attempts if self.cheap is not None else self.cheap_failed


@dataclass(frozen=True)
class Completion:
    decision: Decision
    response: ChatResponse
    cost: Decimal | None  # None: the provider reported no usage
    served: ResolvedDeployment  # the deployment that answered
    attempts: tuple[Attempt, ...] = ()  # every call and skip of its fallback chain(s)
    cascade: CascadeInfo | None = None  # None: the cascade did not run

    @property
    def escalated(self) -> bool:
        return self.cascade is not None and self.cascade.escalated

    @property
    def cascade_reason(self) -> str | None:
        return self.cascade.reason if self.cascade is not None else None
