"""The record of one request's way down its chain: one `Attempt` per call or skip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmtriage.providers.errors import ProviderAuthError, ProviderCallError

OK = "ok"
BREAKER_OPEN = "breaker_open"  # skipped without a call: its circuit breaker is open
DEADLINE = "deadline"  # skipped: the request deadline had passed
SKIPS = frozenset({BREAKER_OPEN, DEADLINE})
_DETAIL_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class Attempt:
    deployment: str
    kind: str  # OK, BREAKER_OPEN, DEADLINE or an ErrorKind value
    status: int | None = None  # the upstream's HTTP status, when it sent one
    latency_s: float = 0.0  # to the answer (a stream: to its first chunk) or the failure
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == OK

    @property
    def called(self) -> bool:
        """Whether a call was made (or, for key_missing, would have been)."""
        return self.kind not in SKIPS

    @classmethod
    def failed(cls, deployment: str, error: ProviderCallError, latency_s: float) -> Attempt:
        detail = error.detail
        if isinstance(error, ProviderAuthError):  # its text may quote part of the key
            detail = "the provider rejected its configured credentials"
        return cls(
            deployment=deployment,
            kind=error.kind.value,
            status=getattr(error, "status", None),
            latency_s=latency_s,
            detail=detail[:_DETAIL_CHARS],
        )

    def reason(self) -> str:
        """Short human text: 'HTTP 503 (overloaded)', 'breaker open', 'timeout: …'."""
        if self.kind == BREAKER_OPEN:
            return "circuit breaker open"
        if self.kind == DEADLINE:
            return "request deadline passed"
        if self.status is not None:
            return f"HTTP {self.status} ({self.kind})"
        return f"{self.kind}: {self.detail}" if self.detail else self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "outcome": self.kind,
            "status": self.status,
            "latency_ms": round(self.latency_s * 1000, 1),
            "reason": self.reason(),
        }


def calls(attempts: Sequence[Attempt]) -> int:
    return sum(1 for a in attempts if a.called)


def fallbacks(attempts: Sequence[Attempt]) -> list[tuple[str, str]]:
    """(deployment, last outcome) of each deployment that did not answer, in chain order."""
    answered = {a.deployment for a in attempts if a.ok}
    last: dict[str, str] = {}
    for attempt in attempts:
        if attempt.deployment not in answered:
            last[attempt.deployment] = attempt.kind
    return list(last.items())


def summary(attempts: Sequence[Attempt]) -> str:
    return "; ".join(f"{a.deployment}: {a.reason()}" for a in attempts) or "no deployment to try"
