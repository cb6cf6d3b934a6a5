"""Same-deployment retries: how long to wait, and when to stop waiting and move on.

Backoff is exponential with full jitter (wait = uniform(0, min(cap, base·2^n))), so
replicas that failed together do not retry together. A provider's own hint
(`Retry-After`, `retry-after-ms`) wins over the backoff; a hint longer than
`max_wait_s`, or any wait that would not leave time before the request deadline, means
"move on now" rather than "wait".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmtriage.providers.errors import ProviderCallError, ProviderHTTPError

Rng = Callable[[], float]  # uniform in [0, 1), like random.random


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_retries: int = 1  # default per deployment; a deployment may set its own
    max_wait_s: float = 5.0
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.max_wait_s < 0:
            raise ValueError("max_retries and max_wait_s must not be negative")
        if not 0 < self.backoff_base_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_base_s <= backoff_max_s")

    def backoff(self, retry: int, rng: Rng) -> float:
        """Full-jitter wait before retry number `retry` (0 for the first)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** min(retry, 30))
        return rng() * cap

    def wait(
        self,
        error: ProviderCallError,
        *,
        retry: int,
        max_retries: int,
        remaining_s: float,
        rng: Rng,
    ) -> float | None:
        """Seconds to wait before calling the same deployment again, or None: move on."""
        if retry >= max_retries:
            return None
        hint = error.retry_after if isinstance(error, ProviderHTTPError) else None
        wait = hint if hint is not None else self.backoff(retry, rng)
        if wait > self.max_wait_s or wait >= remaining_s:
            return None
        return wait
