"""In-process decision store: tests, and a log that need not outlive the process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from llmtriage.learning.migrations import LATEST
from llmtriage.learning.record import DecisionRecord, LoggedDecision, Verdict


class MemoryDecisionStore:
    backend = "memory"

    def __init__(self) -> None:
        self._records: dict[str, DecisionRecord] = {}
        self._verdicts: dict[str, dict[str, Verdict]] = {}  # decision_id -> source -> v

    async def write(self, records: Sequence[DecisionRecord]) -> None:
        for record in records:
            self._records.setdefault(record.decision_id, record)

    async def get(self, decision_id: str) -> DecisionRecord | None:
        return self._records.get(decision_id)

    async def put_verdict(self, verdict: Verdict) -> bool:
        if verdict.decision_id not in self._records:
            return False
        self._verdicts.setdefault(verdict.decision_id, {})[verdict.source] = replace(verdict)
        return True

    async def fetch(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[LoggedDecision]:
        chosen = sorted(
            (
                r
                for r in self._records.values()
                if (since is None or r.ts >= since) and (until is None or r.ts < until)
            ),
            key=lambda r: (r.ts, r.decision_id),
        )
        return [LoggedDecision(r, self._verdicts_of(r.decision_id)) for r in chosen]

    def _verdicts_of(self, decision_id: str) -> tuple[Verdict, ...]:
        by_source = self._verdicts.get(decision_id, {})
        return tuple(by_source[source] for source in sorted(by_source))

    async def prune(self, *, before: float | None, max_rows: int | None) -> int:
        doomed = {d for d, r in self._records.items() if before is not None and r.ts < before}
        if max_rows is not None:
            newest = sorted(self._records.values(), key=lambda r: (r.ts, r.decision_id))
            doomed.update(r.decision_id for r in newest[: max(0, len(newest) - max_rows)])
        for decision_id in doomed:
            del self._records[decision_id]
            self._verdicts.pop(decision_id, None)
        return len(doomed)

    async def count(self) -> int:
        return len(self._records)

    async def schema_version(self) -> int:
        return LATEST

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        pass
