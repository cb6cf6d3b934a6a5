"""Weak-vs-strong routing sets: the prompts plus the two models' quality on each.

A benchmark (or a user's outcomes file) names many models; a router trains on one
pair. RouteLLM files name their pair; for LLMRouter we take the cheapest and the
strongest of its nine models, chosen on the train split only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmtriage_train.loaders import (
    STRONG,
    WEAK,
    cheapest_and_strongest,
    llmrouter_models,
    load_benchmark,
)
from llmtriage_train.outcomes import Outcomes, OutcomesError

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoutingSet:
    name: str
    prompts: list[str]
    weak: F64
    strong: F64
    split: list[str | None]
    weak_model: str
    strong_model: str

    def __len__(self) -> int:
        return len(self.prompts)

    def rows(self, idx: npt.NDArray[np.int64]) -> RoutingSet:
        return RoutingSet(
            self.name,
            [self.prompts[i] for i in idx],
            self.weak[idx],
            self.strong[idx],
            [self.split[i] for i in idx],
            self.weak_model,
            self.strong_model,
        )

    def indices(self, split: str) -> npt.NDArray[np.int64]:
        return np.array([i for i, s in enumerate(self.split) if s == split], dtype=np.int64)


def from_outcomes(name: str, outcomes: Outcomes, weak: str, strong: str) -> RoutingSet:
    if weak == strong:
        raise OutcomesError(f"--weak and --strong name the same column '{weak}'")
    return RoutingSet(
        name=name,
        prompts=list(outcomes.prompts),
        weak=outcomes.column(weak),
        strong=outcomes.column(strong),
        split=list(outcomes.split),
        weak_model=weak,
        strong_model=strong,
    )


def benchmark_set(name: str, root: Path | None = None) -> RoutingSet:
    outcomes = load_benchmark(name, root)
    if name == "llmrouter":
        from llmtriage_train.datasets import data_root

        weak, strong = cheapest_and_strongest(outcomes, llmrouter_models(root or data_root()))
        return from_outcomes(name, outcomes, weak, strong)
    return from_outcomes(name, outcomes, WEAK, STRONG)
