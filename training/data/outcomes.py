"""The outcomes format: which model answered which prompt how well.

Every benchmark loader produces an `Outcomes`, and users bring their own data in the
same shape through `read_outcomes` (CSV, JSONL or Parquet, chosen by file suffix):

* one row per prompt;
* a `prompt` column (the text), or a `messages` column holding an OpenAI-style list of
  `{"role", "content"}` (content a string or a list of `{"type": "text", "text": ...}`
  parts; in CSV the list is JSON text). The router scores the LAST user message, so that
  is the text kept. When both columns exist, `prompt` wins;
* one numeric column per model: booleans (true/false, "True"/"False"), 0/1, or scores;
* optional `split` ("train", "test" or empty), `source` (defaults to the file name's
  stem) and `task` columns;
* every other column whose values are numbers counts as a model column, except id-like
  names (`id`, `question_id`, `prompt_id`, `row_id`, `cluster_id`, `index`, `idx`), unless
  `models=` names the model columns explicitly; non-numeric extra columns (responses,
  notes) are ignored.

Normalisation: quality must end up in [0, 1]. If every model value already lies in
[0, 1] the values are kept as they are. Otherwise ALL model columns are min-max scaled
together, q = (s - min) / (max - min) with min/max over every model value in the file,
so that the models stay comparable (e.g. 1–10 judge scores with observed min 1 and max 10
become (s - 1) / 9). Scale per model yourself beforehand if that is not what you want.

Bad input raises `OutcomesError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RESERVED_COLUMNS = ("prompt", "messages", "split", "source", "task")
ID_COLUMNS = frozenset({"id", "question_id", "prompt_id", "row_id", "cluster_id", "index", "idx"})
SPLITS = ("train", "test")
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


class OutcomesError(ValueError):
    """Outcomes data that cannot be used as given; the message says what to fix."""


def _fallback_last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the last message with role "user"; list content has its text parts joined."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [
                str(p.get("text", ""))
                for p in content
                if isinstance(p, Mapping) and p.get("type") == "text"
            ]
            return "\n".join(t for t in texts if t)
        return ""
    return ""


def _resolve_scored_text() -> Callable[[Sequence[Mapping[str, Any]]], str]:
    # The serving side defines what the router scores; share it so training matches.
    try:
        from llmtriage.text import scored_text
    except ImportError:  # core package without the helper: keep the simple equivalent
        return _fallback_last_user_text
    core: Callable[[Sequence[Mapping[str, Any]]], str] = scored_text
    return core


_scored_text = _resolve_scored_text()


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the router scores for a conversation: the last user turn."""
    return _scored_text(messages)


@dataclass(frozen=True, eq=False)  # eq=False: ndarray fields make generated __eq__ ambiguous
class Outcomes:
    prompts: list[str]
    models: list[str]
    quality: npt.NDArray[np.float64]  # (n prompts, m models), in [0, 1]
    source: list[str]
    split: list[str | None]
    task: list[str | None]

    def __post_init__(self) -> None:
        q = np.asarray(self.quality, dtype=np.float64)
        if q.ndim == 1 and q.size == 0:  # an empty subset may arrive as shape (0,)
            q = q.reshape(0, len(self.models))
        object.__setattr__(self, "quality", q)
        n = len(self.prompts)
        if q.shape != (n, len(self.models)):
            raise OutcomesError(f"quality has shape {q.shape}, expected ({n}, {len(self.models)})")
        for name in ("source", "split", "task"):
            if len(getattr(self, name)) != n:
                raise OutcomesError(f"{name} has {len(getattr(self, name))} entries, expected {n}")
        if len(set(self.models)) != len(self.models):
            raise OutcomesError(f"duplicate model names in {self.models}")
        if q.size and not (np.isfinite(q).all() and q.min() >= 0.0 and q.max() <= 1.0):
            raise OutcomesError("quality values must be finite and in [0, 1]")
        bad = {s for s in self.split if s is not None and s not in SPLITS}
        if bad:
            raise OutcomesError(f"split values must be 'train', 'test' or None, got {sorted(bad)}")

    def __len__(self) -> int:
        return len(self.prompts)

    def column(self, model: str) -> npt.NDArray[np.float64]:
        """Quality of one model on every prompt."""
        return self.quality[:, self._index(model)]

    def _index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            msg = f"unknown model {model!r}; models: {', '.join(self.models)}"
            raise OutcomesError(msg) from None

    def subset(
        self, mask_or_indices: Sequence[int] | Sequence[bool] | npt.NDArray[Any]
    ) -> Outcomes:
        """Rows picked by a boolean mask of length len(self) or by integer indices."""
        idx = np.asarray(mask_or_indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise OutcomesError(f"mask has shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        elif not np.issubdtype(idx.dtype, np.integer):
            raise OutcomesError(f"subset needs a boolean mask or integer indices, got {idx.dtype}")
        rows = [int(i) for i in idx]
        return Outcomes(
            prompts=[self.prompts[i] for i in rows],
            models=list(self.models),
            quality=self.quality[idx].reshape(len(rows), len(self.models)),
            source=[self.source[i] for i in rows],
            split=[self.split[i] for i in rows],
            task=[self.task[i] for i in rows],
        )

    def select_models(self, models: Sequence[str]) -> Outcomes:
        """The same rows with only `models`, in that order."""
        cols = [self._index(m) for m in models]
        return Outcomes(
            prompts=list(self.prompts),
            models=list(models),
            quality=self.quality[:, cols],
            source=list(self.source),
            split=list(self.split),
            task=list(self.task),
        )

    @staticmethod
    def concat(parts: Sequence[Outcomes]) -> Outcomes:
        """Rows of all parts; every part must have the same models (order may differ)."""
        if not parts:
            raise OutcomesError("concat needs at least one Outcomes")
        models = list(parts[0].models)
        aligned: list[Outcomes] = []
        for i, part in enumerate(parts):
            if set(part.models) != set(models) or len(part.models) != len(models):
                raise OutcomesError(
                    f"part {i} has models {part.models}, part 0 has {models}; "
                    "use select_models() to bring them to the same set"
                )
            aligned.append(part if part.models == models else part.select_models(models))
        return Outcomes(
            prompts=[p for part in aligned for p in part.prompts],
            models=models,
            quality=np.concatenate([part.quality for part in aligned], axis=0),
            source=[s for part in aligned for s in part.source],
            split=[s for part in aligned for s in part.split],
            task=[t for part in aligned for t in part.task],
        )


# --- reading -------------------------------------------------------------------------


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names (in first-seen order) and rows as dicts, by file suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        csv.field_size_limit(sys.maxsize)  # prompts and responses can be very long
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = [dict(r) for r in reader]
            return list(reader.fieldnames or []), rows
    if suffix in (".jsonl", ".ndjson"):
        columns: dict[str, None] = {}
        rows = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise OutcomesError(f"{path}: line {lineno} is not valid JSON ({exc})") from exc
                if not isinstance(row, dict):
                    raise OutcomesError(f"{path}: line {lineno} must be a JSON object")
                columns.update(dict.fromkeys(row))
                rows.append(row)
        return list(columns), rows
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq  # optional: only Parquet input needs it
        except ImportError as exc:
            raise OutcomesError(
                f"{path}: reading Parquet needs pyarrow (pip install 'llmtriage[train]')"
            ) from exc
        table = pq.read_table(path)
        return list(table.column_names), table.to_pylist()
    raise OutcomesError(f"{path}: unknown suffix {suffix!r}; use .csv, .jsonl or .parquet")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> float | None:
    """A model value as float, or None when it is not a number/boolean."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        s = value.strip().lower()
        if s in _TRUE:
            return 1.0
        if s in _FALSE:
            return 0.0
        try:
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _model_columns(
    columns: list[str], rows: list[dict[str, Any]], models: Sequence[str] | None
) -> list[str]:
    if models is not None:
        if len(set(models)) != len(models):
            raise OutcomesError(f"models lists a column twice: {list(models)}")
        for m in models:
            if m not in columns:
                raise OutcomesError(
                    f"model column {m!r} not found; available columns: {', '.join(columns)}"
                )
        return list(models)
    found = []
    for col in columns:
        if col in RESERVED_COLUMNS or col.lower() in ID_COLUMNS:
            continue
        first = next((r.get(col) for r in rows if not _is_missing(r.get(col))), None)
        if first is not None and _number(first) is not None:
            found.append(col)  # later non-numeric values in it are reported as errors
    return found


def _prompt_of(row: dict[str, Any], text_column: str, rownum: int) -> str:
    value = row.get(text_column)
    if text_column == "prompt":
        if _is_missing(value):
            raise OutcomesError(f"row {rownum}: empty prompt")
        return str(value)
    messages = value
    if isinstance(messages, str):  # CSV holds the list as JSON text
        try:
            messages = json.loads(messages)
        except ValueError as exc:
            raise OutcomesError(f"row {rownum}: messages is not valid JSON ({exc})") from exc
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise OutcomesError(f"row {rownum}: messages must be a list of {{role, content}} objects")
    text = last_user_text(messages)
    if not text.strip():
        raise OutcomesError(f"row {rownum}: messages has no user message with text")
    return text


def _optional_str(value: Any) -> str | None:
    return None if _is_missing(value) else str(value).strip()


def normalise_quality(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Keep values already in [0, 1]; else min-max scale all columns jointly (see docstring)."""
    if values.size == 0 or (values.min() >= 0.0 and values.max() <= 1.0):
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        raise OutcomesError(f"every model score is {lo}; scores outside [0, 1] need a range")
    return (values - lo) / (hi - lo)


def read_outcomes(path: str | Path, *, models: Sequence[str] | None = None) -> Outcomes:
    """Read an outcomes file (see the module docstring for the format and normalisation)."""
    path = Path(path)
    try:
        columns, rows = _read_rows(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise OutcomesError(f"{path}: cannot read ({exc})") from exc
    if not rows:
        raise OutcomesError(f"{path}: empty file; expected a header/keys and one row per prompt")
    if "prompt" in columns:
        text_column = "prompt"
    elif "messages" in columns:
        text_column = "messages"
    else:
        raise OutcomesError(
            f"{path}: no 'prompt' or 'messages' column; found: {', '.join(columns)}"
        )
    model_cols = _model_columns(columns, rows, models)
    if len(model_cols) < 2:
        raise OutcomesError(
            f"{path}: found {len(model_cols)} model column(s) {model_cols}; need at least 2 "
            "numeric columns, one per model (or name them with models=)"
        )

    quality = np.empty((len(rows), len(model_cols)), dtype=np.float64)
    prompts: list[str] = []
    split: list[str | None] = []
    for i, row in enumerate(rows):
        rownum = i + 1  # 1-based data row, header not counted
        prompts.append(_prompt_of(row, text_column, rownum))
        for j, col in enumerate(model_cols):
            value = row.get(col)
            number = None if _is_missing(value) else _number(value)
            if number is None:
                raise OutcomesError(
                    f"{path}: row {rownum}, column {col!r}: {value!r} is not a number or "
                    "boolean; every model needs a score on every row (fix or drop the row)"
                )
            quality[i, j] = number
        s = _optional_str(row.get("split"))
        s = s.lower() if s is not None else None
        if s is not None and s not in SPLITS:
            raise OutcomesError(f"{path}: row {rownum}: split must be 'train', 'test' or empty")
        split.append(s)

    return Outcomes(
        prompts=prompts,
        models=model_cols,
        quality=normalise_quality(quality),
        source=[_optional_str(r.get("source")) or path.stem for r in rows],
        split=split,
        task=[_optional_str(r.get("task")) for r in rows],
    )


# --- writing -------------------------------------------------------------------------


def _records(outcomes: Outcomes) -> list[dict[str, Any]]:
    clash = [m for m in outcomes.models if m in RESERVED_COLUMNS]
    if clash:
        raise OutcomesError(f"model names {clash} clash with reserved columns {RESERVED_COLUMNS}")
    records = []
    for i, prompt in enumerate(outcomes.prompts):
        rec: dict[str, Any] = {
            "prompt": prompt,
            "source": outcomes.source[i],
            "split": outcomes.split[i],
            "task": outcomes.task[i],
        }
        rec.update(zip(outcomes.models, outcomes.quality[i].tolist(), strict=True))
        records.append(rec)
    return records


def write_outcomes(outcomes: Outcomes, path: str | Path) -> Path:
    """Write in the format `read_outcomes` reads back (.csv, .jsonl or .parquet)."""
    path = Path(path)
    records = _records(outcomes)
    columns = ["prompt", "source", "split", "task", *outcomes.models]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
    elif suffix in (".jsonl", ".ndjson"):
        with path.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif suffix in (".parquet", ".pq"):
        import pyarrow as pa  # optional dependency, as for reading
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        raise OutcomesError(f"{path}: unknown suffix {suffix!r}; use .csv, .jsonl or .parquet")
    return path
