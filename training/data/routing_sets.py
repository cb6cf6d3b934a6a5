"""Weak-vs-strong routing sets: the prompts plus the two models' quality on each.

A benchmark (or a user's outcomes file) names many models. RouteLLM files name their
pair. LLMRouter has nine: it is evaluated on its cheapest and strongest model (chosen
on the train split only) and by default the scorer learns that pair too. The option
`tiers` makes it learn two price tiers instead, the mean quality of the cheap models
against the mean of the expensive ones that beat them all: less tied to one pair, it
transfers better to MMLU and GSM8K but worse to MT-Bench and to LLMRouter's own pair
(docs/model-experiments.md has the figures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage_train.data.datasets import data_root
from llmtriage_train.data.loaders import (
    STRONG,
    WEAK,
    cheapest_and_strongest,
    llmrouter_models,
    load_benchmark,
)
from llmtriage_train.data.outcomes import Outcomes, OutcomesError

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Target:
    """What the scorer learns from, when it is not the evaluated pair itself."""

    weak: F64
    strong: F64
    weak_model: str
    strong_model: str


@dataclass(frozen=True)
class RoutingSet:
    name: str
    prompts: list[str]
    weak: F64  # quality of the evaluated pair: what APGR is measured on
    strong: F64
    split: list[str | None]
    weak_model: str
    strong_model: str
    target: Target | None = None  # training labels; None: learn the evaluated pair

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def learns(self) -> Target:
        if self.target is not None:
            return self.target
        return Target(self.weak, self.strong, self.weak_model, self.strong_model)

    def rows(self, idx: npt.NDArray[np.int64]) -> RoutingSet:
        t = self.target
        return RoutingSet(
            self.name,
            [self.prompts[i] for i in idx],
            self.weak[idx],
            self.strong[idx],
            [self.split[i] for i in idx],
            self.weak_model,
            self.strong_model,
            None if t is None else Target(t.weak[idx], t.strong[idx], t.weak_model, t.strong_model),
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


SEEN = "seen"  # the split of a test row whose prompt is also a training prompt


def mark_seen_test_rows(sets: Sequence[RoutingSet]) -> list[RoutingSet]:
    """Move test rows whose prompt is a training prompt of any set to split "seen".

    Benchmarks share prompts: 36 of LLMRouter's test prompts are GSM8K training prompts
    (its GSM8K questions come from the same test set RouteLLM's file does). A scorer
    that trained on a prompt cannot be measured on it, whatever the labels were.
    """
    trained = {
        p for s in sets for p, split in zip(s.prompts, s.split, strict=True) if split == "train"
    }
    return [
        replace(
            s,
            split=[
                SEEN if split == "test" and p in trained else split
                for p, split in zip(s.prompts, s.split, strict=True)
            ],
        )
        for s in sets
    ]


def price_tiers(
    outcomes: Outcomes, models_info: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """(cheap tier, expensive tier) of `outcomes.models`.

    Prices (input + output) split at their largest ratio between neighbours; the cheap
    tier is every model below the split, the expensive tier every model above it that
    beats each cheap model's mean quality on the train split (paying more for a model
    that is no better is not a routing choice). Quality never looks at test rows.
    """
    missing = [m for m in outcomes.models if m not in models_info]
    if missing:
        raise ValueError(f"no price for models {missing}")
    price = {
        m: float(models_info[m]["input_price"]) + float(models_info[m]["output_price"])
        for m in outcomes.models
    }
    levels = sorted(set(price.values()))
    if len(levels) < 2 or levels[0] <= 0:
        raise ValueError("price tiers need at least two distinct positive prices")
    cut = max(range(1, len(levels)), key=lambda i: levels[i] / levels[i - 1])
    train = np.array([s == "train" for s in outcomes.split])
    rows = outcomes.subset(train) if train.any() else outcomes
    mean = {m: float(rows.column(m).mean()) for m in outcomes.models}
    cheap = sorted(m for m in outcomes.models if price[m] < levels[cut])
    best_cheap = max(mean[m] for m in cheap)
    dear = sorted(m for m in outcomes.models if price[m] >= levels[cut] and mean[m] > best_cheap)
    if not dear:
        raise ValueError("no expensive model beats the cheap ones on the train split")
    return cheap, dear


def tier_target(outcomes: Outcomes, cheap: Sequence[str], dear: Sequence[str]) -> Target:
    return Target(
        weak=np.mean([outcomes.column(m) for m in cheap], axis=0),
        strong=np.mean([outcomes.column(m) for m in dear], axis=0),
        weak_model="mean of " + ", ".join(cheap),
        strong_model="mean of " + ", ".join(dear),
    )


def benchmark_set(name: str, root: Path | None = None, *, tiers: bool = False) -> RoutingSet:
    """A benchmark's routing set. `tiers=True` makes LLMRouter learn its price tiers."""
    outcomes = load_benchmark(name, root)
    if name == "llmrouter":
        info = llmrouter_models(root or data_root())
        weak, strong = cheapest_and_strongest(outcomes, info)
        pair = from_outcomes(name, outcomes, weak, strong)
        if not tiers:
            return pair
        return replace(pair, target=tier_target(outcomes, *price_tiers(outcomes, info)))
    return from_outcomes(name, outcomes, WEAK, STRONG)
