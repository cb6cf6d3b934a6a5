"""Every labelled prompt the project has, as one table of (task, source) rows.

A task is a benchmark's name across sources: GSM8K from RouteLLM, LLMRouter and
RouterDC is one task, "gsm8k". A source is one upstream data set with its own models
(RouteLLM: 2, LLMRouter: 9, RouterDC: 7); quality is only comparable within a source,
so each source keeps its own (rows × models) block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmtriage_train.data.datasets import DataError, data_root
from llmtriage_train.data.loaders import load_gsm8k, load_llmrouter, load_mmlu, load_mt_bench
from llmtriage_train.data.outcomes import Outcomes
from llmtriage_train.data.splits import stable_split
from llmtriage_train.generalisation.normalise import dedup_key, strip_wrappers

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# upstream task names -> the project's task names (one name per benchmark)
TASK_NAMES: dict[str, str] = {
    "agentverse-logicgrid": "logic_grid",
    "agentverse-mgsm": "mgsm",
    "MATH_prealgebra": "math",
    "humaneval": "human_eval",
}

# RouterDC file stem -> task; files without a _train/_test suffix have no split
ROUTERDC_FILES: dict[str, str] = {
    "MATH_prealgebra.json": "math",
    "ceval.json": "ceval",
    "cmmlu_train.json": "cmmlu",
    "cmmlu_test.json": "cmmlu",
    "gsm8k-train.json": "gsm8k",
    "gsm8k-test.json": "gsm8k",
    "humaneval_train.json": "human_eval",
    "humaneval_test.json": "human_eval",
    "javascript.json": "javascript",
    "mmlu_train.json": "mmlu",
    "mmlu_test.json": "mmlu",
}


@dataclass(frozen=True)
class SourceRows:
    """One source's rows before pooling."""

    source: str
    models: list[str]
    prompts: list[str]  # as upstream wrote them
    quality: F64  # (rows, models), each in [0, 1]
    task: list[str]
    split: list[str | None]  # None: the source has no split for the row


@dataclass(frozen=True)
class TaskTable:
    """All sources stacked. Row i belongs to source[i]; its quality vector is row
    local[i] of blocks[source[i]] (the models differ between sources)."""

    prompts: list[str]  # wrappers stripped: what features are computed on
    raw_prompts: list[str]
    keys: list[str]  # dedup_key of each prompt
    task: list[str]
    source: list[str]
    split: list[str]  # "train" / "test" for in-distribution evaluation
    local: I64
    models: dict[str, list[str]]
    quality: dict[str, F64]

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def tasks(self) -> list[str]:
        return sorted(set(self.task))

    def rows(self, *, task: str | None = None, source: str | None = None) -> I64:
        return np.array(
            [
                i
                for i, (t, s) in enumerate(zip(self.task, self.source, strict=True))
                if (task is None or t == task) and (source is None or s == source)
            ],
            dtype=np.int64,
        )

    def block(self, rows: I64, source: str) -> F64:
        """Quality (len(rows), models of `source`) of rows that all belong to `source`."""
        return self.quality[source][self.local[rows]]


def _task(name: str | None) -> str:
    if not name:
        return "unknown"
    return TASK_NAMES.get(name, name)


def _routellm(root: Path) -> SourceRows:
    parts: list[tuple[str, Outcomes]] = [
        ("mmlu", load_mmlu(root)),
        ("gsm8k", load_gsm8k(root)),
        ("mt_bench", load_mt_bench(root)),
    ]
    models = parts[0][1].models
    return SourceRows(
        source="routellm",
        models=list(models),
        prompts=[p for _, o in parts for p in o.prompts],
        quality=np.vstack([o.quality for _, o in parts]),
        task=[name for name, o in parts for _ in o.prompts],
        split=[s for _, o in parts for s in o.split],
    )


def _llmrouter(root: Path) -> SourceRows:
    o = load_llmrouter(root)
    return SourceRows(
        source="llmrouter",
        models=list(o.models),
        prompts=list(o.prompts),
        quality=o.quality,
        task=[_task(t) for t in o.task],
        split=list(o.split),
    )


def _routerdc(root: Path) -> SourceRows:
    folder = root / "routerdc"
    prompts: list[str] = []
    quality: list[list[float]] = []
    task: list[str] = []
    split: list[str | None] = []
    models: list[str] | None = None
    for name, task_name in ROUTERDC_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} not found; run `make data`")
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc}); run `make data`") from exc
        for i, r in enumerate(rows):
            names = sorted(r["scores"])
            if models is None:
                models = names
            if names != models:
                raise DataError(f"{path}: row {i + 1} scores {names}, expected {models}")
            prompts.append(str(r["question"]))
            quality.append([float(r["scores"][m]) for m in models])
            task.append(task_name)
            stem = name.removesuffix(".json")
            split.append(
                "train" if stem.endswith("train") else "test" if stem.endswith("test") else None
            )
    q = np.clip(np.asarray(quality, dtype=np.float64), 0.0, 1.0)
    return SourceRows("routerdc", models or [], prompts, q, task, split)


SOURCES: dict[str, Callable[[Path], SourceRows]] = {
    "routellm": _routellm,
    "llmrouter": _llmrouter,
    "routerdc": _routerdc,
}
# whose split wins when sources disagree about a question: RouteLLM's held-out split
# is the one the field reports, so it is never moved
SPLIT_AUTHORITY = "routellm"


def resolve_splits(
    keys: Sequence[str], sources: Sequence[str], splits: Sequence[str | None]
) -> list[str]:
    """One split per question key, so no question is trained on in one source and
    tested on in another. The authority source decides its own keys; otherwise a key
    that is "test" anywhere is "test" everywhere; unsplit keys get the stable hash split."""
    decided: dict[str, str] = {}
    for k, src, s in zip(keys, sources, splits, strict=True):
        if src == SPLIT_AUTHORITY and s is not None:
            decided[k] = s
    votes: dict[str, str] = {}
    for k, s in zip(keys, splits, strict=True):
        if k in decided or s is None:
            continue
        if votes.get(k) != "test":
            votes[k] = s
    undecided = sorted({k for k in keys if k not in decided and k not in votes})
    hashed = dict(zip(undecided, stable_split(undecided), strict=True))
    return [decided.get(k) or votes.get(k) or hashed[k] for k in keys]


def stack(parts: Iterable[SourceRows]) -> TaskTable:
    parts = list(parts)
    raw = [p for part in parts for p in part.prompts]
    stripped = [strip_wrappers(p) for p in raw]
    keys = [dedup_key(p) for p in raw]
    sources = [part.source for part in parts for _ in part.prompts]
    splits = resolve_splits(keys, sources, [s for part in parts for s in part.split])
    return TaskTable(
        prompts=stripped,
        raw_prompts=raw,
        keys=keys,
        task=[t for part in parts for t in part.task],
        source=sources,
        split=splits,
        local=np.concatenate([np.arange(len(part.prompts)) for part in parts]).astype(np.int64),
        models={part.source: part.models for part in parts},
        quality={part.source: part.quality for part in parts},
    )


def load_tasks(root: Path | None = None, sources: Sequence[str] = tuple(SOURCES)) -> TaskTable:
    """Every source's rows from the materialised data (`make data`)."""
    base = root if root is not None else data_root()
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {', '.join(SOURCES)}")
    return stack(SOURCES[s](base) for s in sources)
