"""`llmtriage outcomes export`: the outcomes file (README "Outcomes format") from the
decision log's verdicts.

One row per judged decision: `id` (the decision id, never read as a model), `prompt`,
`source` ("traffic"), `task` (the router), and one column per deployment holding the
verdict's score in [0, 1]: feedback scores the deployment that answered; a verdict of
source "shadow:<name>" scores deployment <name> (shadow comparisons, when they exist).

`complete=True` keeps only rows with a score for every model column (what `llmtriage
train` reads today: it needs every model scored on every row); otherwise unjudged cells
are empty (null in JSONL, missing in Parquet), for adaptation that accepts sparse rows.
Decisions logged without their prompt (log_prompts off) cannot be trained on and are
counted, not written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtriage.errors import InputError
from llmtriage.learning.record import FEEDBACK, LoggedDecision, Verdict

FORMATS = (".jsonl", ".parquet")
SHADOW = "shadow:"


@dataclass(frozen=True)
class Export:
    rows: list[dict[str, Any]]
    models: list[str]
    judged: int  # decisions with at least one verdict
    without_prompt: int  # judged, but logged without the prompt
    incomplete: int  # dropped by `complete`


def column_of(entry: LoggedDecision, verdict: Verdict) -> str:
    if verdict.source == FEEDBACK:
        return entry.record.deployment
    return verdict.source.removeprefix(SHADOW)


def outcome_rows(
    logged: Sequence[LoggedDecision], *, models: Sequence[str] | None = None, complete: bool = False
) -> Export:
    judged = [e for e in logged if e.verdicts]
    with_prompt = [e for e in judged if e.record.prompt is not None]
    scored: list[tuple[LoggedDecision, dict[str, float]]] = []
    for entry in with_prompt:
        scores: dict[str, float] = {}
        for verdict in entry.verdicts:  # feedback sorts before shadow:*: the client wins
            scores.setdefault(column_of(entry, verdict), verdict.score)
        scored.append((entry, scores))
    columns = list(models) if models else sorted({m for _, s in scored for m in s})
    rows: list[dict[str, Any]] = []
    incomplete = 0
    for entry, scores in scored:
        if complete and any(m not in scores for m in columns):
            incomplete += 1
            continue
        if not any(m in scores for m in columns):
            continue
        record = entry.record
        row: dict[str, Any] = {"id": record.decision_id, "prompt": record.prompt}
        row |= {"source": "traffic", "task": record.router}
        row |= {m: scores.get(m) for m in columns}
        rows.append(row)
    return Export(rows, columns, len(judged), len(judged) - len(with_prompt), incomplete)


def write_outcomes(export: Export, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: the outcomes file must end in .jsonl or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for row in export.rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    try:  # pyarrow comes with the `train` extra; only Parquet needs it
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError as exc:
        why = "Parquet needs pyarrow: pip install 'llmtriage[train]', or write .jsonl"
        raise InputError(why) from exc
    fields = [("id", pa.string()), ("prompt", pa.string()), ("source", pa.string())]
    fields += [("task", pa.string())] + [(m, pa.float64()) for m in export.models]
    schema = pa.schema(fields)
    table = pa.Table.from_pylist(export.rows, schema=schema)
    pq.write_table(table, path)
