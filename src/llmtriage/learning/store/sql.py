"""Rows <-> records for the SQL stores (SQLite and PostgreSQL share the schema)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from llmtriage.learning.record import DecisionRecord, LoggedDecision, Verdict

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DecisionRecord))
VERDICT_COLUMNS = ("decision_id", "source", "score", "label", "comment", "ts")
_LISTS = ("forbidden_tiers", "fallbacks")  # stored comma-joined (names have no commas)


def insert_decisions(ph: str) -> str:
    values = ", ".join([ph] * len(COLUMNS))
    return (
        f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({values}) "
        "ON CONFLICT (decision_id) DO NOTHING"
    )


def upsert_verdict(ph: str) -> str:
    """Insert or replace, only when the decision exists (0 rows touched otherwise)."""
    cols = ", ".join(VERDICT_COLUMNS)
    values = ", ".join([ph] * len(VERDICT_COLUMNS))
    update = ", ".join(f"{c} = excluded.{c}" for c in VERDICT_COLUMNS[2:])
    return (
        f"INSERT INTO verdicts ({cols}) SELECT {values} "
        f"WHERE EXISTS (SELECT 1 FROM decisions WHERE decision_id = {ph}) "
        f"ON CONFLICT (decision_id, source) DO UPDATE SET {update}"
    )


def select_decisions(ph: str, *, since: bool, until: bool) -> str:
    where = [f"ts >= {ph}"] * since + [f"ts < {ph}"] * until
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {', '.join(COLUMNS)} FROM decisions{clause} ORDER BY ts, decision_id"


def select_verdicts(ph: str, *, since: bool, until: bool) -> str:
    where = [f"d.ts >= {ph}"] * since + [f"d.ts < {ph}"] * until
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cols = ", ".join(f"v.{c}" for c in VERDICT_COLUMNS)
    return (
        f"SELECT {cols} FROM verdicts v JOIN decisions d ON d.decision_id = v.decision_id"
        f"{clause} ORDER BY v.decision_id, v.source"
    )


def params(record: DecisionRecord) -> tuple[Any, ...]:
    out: list[Any] = []
    for name in COLUMNS:
        value = getattr(record, name)
        out.append(",".join(value) if name in _LISTS else value)
    return tuple(out)


def record_of(row: Sequence[Any]) -> DecisionRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    for name in _LISTS:
        text = values[name]
        values[name] = tuple(text.split(",")) if text else ()
    values["stream"] = bool(values["stream"])
    return DecisionRecord(**values)


def verdict_params(v: Verdict) -> tuple[Any, ...]:
    return (v.decision_id, v.source, v.score, v.label, v.comment, v.ts, v.decision_id)


def verdict_of(row: Sequence[Any]) -> Verdict:
    return Verdict(**dict(zip(VERDICT_COLUMNS, row, strict=True)))


def join(records: list[DecisionRecord], verdicts: list[Verdict]) -> list[LoggedDecision]:
    by_id: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_id.setdefault(v.decision_id, []).append(v)
    return [LoggedDecision(r, tuple(by_id.get(r.decision_id, ()))) for r in records]


def prune_statements(*, before: str | None, max_rows: str | None) -> list[tuple[str, str, bool]]:
    """(statement, which parameter it takes, whether its rowcount counts decisions); pass
    the placeholder for each bound in use. Verdicts first (SQLite enforces the foreign
    key only when asked to)."""
    out: list[tuple[str, str, bool]] = []
    if before is not None:
        doomed = f"SELECT decision_id FROM decisions WHERE ts < {before}"
        out.append((f"DELETE FROM verdicts WHERE decision_id IN ({doomed})", "before", False))
        out.append((f"DELETE FROM decisions WHERE ts < {before}", "before", True))
    if max_rows is not None:
        # everything older than the newest `max_rows` rows
        keep = (
            "SELECT decision_id FROM decisions "
            f"ORDER BY ts DESC, decision_id DESC LIMIT {max_rows}"
        )
        out.append((f"DELETE FROM verdicts WHERE decision_id NOT IN ({keep})", "max_rows", False))
        out.append((f"DELETE FROM decisions WHERE decision_id NOT IN ({keep})", "max_rows", True))
    return out
