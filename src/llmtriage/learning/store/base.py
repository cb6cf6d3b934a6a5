"""The one interface the decision log writes through, whatever backs it.

    write(records)            append a batch (a known decision_id is left as it is)
    get(decision_id)          one record, or None
    put_verdict(verdict)      upsert by (decision_id, source); False: no such decision
    fetch(since, until)       records in time order, each with its verdicts (the join)
    prune(before, max_rows)   retention: drop rows older than `before`, then the oldest
                              beyond `max_rows`; their verdicts go with them
    count(), schema_version(), ping(), aclose()

Every implementation passes tests/learning/test_store_contract.py. Stores raise
`DecisionStoreError` for an outage; callers decide what degrades (the log drops and
counts, feedback answers 503), so no store error ever fails a routed request.

Shadow comparisons add verdict rows with source "shadow:<deployment>" through
`put_verdict`; nothing else in this interface needs to change for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llmtriage.errors import StoreUnavailable
from llmtriage.learning.record import DecisionRecord, LoggedDecision, Verdict


class DecisionStoreError(StoreUnavailable):
    """The decision store could not be read or written (down, timed out, full)."""


@runtime_checkable
class DecisionStore(Protocol):
    backend: str  # "memory" | "sqlite" | "postgresql"

    async def write(self, records: Sequence[DecisionRecord]) -> None: ...

    async def get(self, decision_id: str) -> DecisionRecord | None: ...

    async def put_verdict(self, verdict: Verdict) -> bool: ...

    async def fetch(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[LoggedDecision]: ...

    async def prune(self, *, before: float | None, max_rows: int | None) -> int:
        """Rows removed."""
        ...

    async def count(self) -> int: ...

    async def schema_version(self) -> int: ...

    async def ping(self) -> bool:
        """True when the backend answers; never raises."""
        ...

    async def aclose(self) -> None: ...
