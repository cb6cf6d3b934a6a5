"""Failures of a whole chain (one deployment's failures are in providers/errors.py).

    ProviderError (llmtriage.errors)
    └── FallbackError
        └── ChainExhausted   every deployment failed or was skipped; the web layer answers
                             503 listing the attempts

Fail-fast errors (a 4xx the next deployment would repeat) are not wrapped: the
provider's own error reaches the client.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmtriage.errors import ProviderError
from llmtriage.fallback.attempts import Attempt, calls, summary


class FallbackError(ProviderError):
    """A fallback chain could not answer."""


class ChainExhausted(FallbackError):
    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        tried = calls(self.attempts)
        super().__init__(
            f"no deployment could answer ({tried} call{'s' if tried != 1 else ''}): "
            + summary(self.attempts)
        )
