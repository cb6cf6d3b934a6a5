"""Shared types of the benchmark sections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Context:
    model: Path
    quick: bool
    python: str  # interpreter for subprocesses (server, load generator)


@dataclass
class SectionResult:
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the section could not run here


@dataclass(frozen=True)
class Section:
    name: str
    group: str  # results file: bench/results/<group>.json
    run: Callable[[Context], SectionResult]


def percentiles_us(samples_s: Sequence[float], qs: Sequence[float] = (50, 99)) -> dict[str, float]:
    values = np.asarray(samples_s) * 1e6
    out = {f"p{q:g}_us".replace(".", "_"): round(float(np.percentile(values, q)), 1) for q in qs}
    out["mean_us"] = round(float(values.mean()), 1)
    return out
