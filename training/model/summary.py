"""What `pipeline.train` measured: the typed result the training report renders.

`TrainSummary.to_dict` is the JSON written to training_summary.json and to the manifest's
`metrics`; its keys are those the untyped summary had, so readers of either file see no
change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmtriage_train.evaluation.metrics import RoutingMetrics
from llmtriage_train.model.crossval import Candidate, CvResult

Interval = tuple[float, float]


def _candidate_dict(c: Candidate) -> dict[str, Any]:
    return {
        "label": c.label,
        "C": c.c,
        "balance": c.balance,
        "offsets": c.offsets,
        "stat_products": c.stat_products,
    }


@dataclass(frozen=True)
class Selection:
    """One candidate's cross-validated APGR on the training rows."""

    candidate: Candidate
    mean_apgr: float
    per_benchmark: dict[str, float]

    @classmethod
    def of(cls, result: CvResult) -> Selection:
        return cls(result.candidate, result.mean_apgr, dict(result.per_set))

    def to_dict(self) -> dict[str, Any]:
        return {
            **_candidate_dict(self.candidate),
            "cv_mean_apgr": self.mean_apgr,
            "cv_apgr_per_benchmark": self.per_benchmark,
        }


@dataclass(frozen=True)
class HeldOut:
    """A benchmark's test split: every headline metric and the APGR's 95% interval."""

    metrics: RoutingMetrics
    apgr_ci95: Interval

    def to_dict(self) -> dict[str, Any]:
        return {**self.metrics.to_dict(), "apgr_ci95": list(self.apgr_ci95)}


@dataclass(frozen=True)
class LeftOut:
    """A benchmark scored by a fit on the others: rows whose prompt the fit lacks."""

    apgr: float
    apgr_ci95: Interval
    n: int


@dataclass(frozen=True)
class Reliability:
    """Per equal-width probability bin: mean prediction, positive rate, rows."""

    mean_pred: list[float]
    frac_pos: list[float]
    counts: list[int]


@dataclass(frozen=True)
class HeadCalibration:
    n: int
    brier: float
    brier_base_rate: float
    reliability: Reliability

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "brier": self.brier,
            "brier_base_rate": self.brier_base_rate,
            "reliability": {
                "mean_pred": self.reliability.mean_pred,
                "frac_pos": self.reliability.frac_pos,
                "counts": self.reliability.counts,
            },
        }


@dataclass(frozen=True)
class LearnedFrom:
    """A benchmark whose scorer learns another pair than the one APGR is measured on."""

    evaluated: str
    learned: str


@dataclass
class TrainSummary:
    selection: list[Selection]
    chosen: Candidate
    held_out: dict[str, HeldOut]
    held_out_seen: dict[str, int]  # test rows not held out: their prompt is a training one
    left_out: dict[str, LeftOut]  # empty when leave-one-benchmark-out did not run
    calibration: dict[str, HeadCalibration]
    learned_from: dict[str, LearnedFrom]
    embedder_kind: str
    embedder_prompts_per_s: float
    timings: dict[str, float] = field(default_factory=dict)  # the CLI adds total_s
    model_version: str | None = None  # known once the artifact is written

    @property
    def left_out_mean(self) -> float | None:
        if not self.left_out:
            return None
        return float(np.mean([r.apgr for r in self.left_out.values()]))

    def to_dict(self) -> dict[str, Any]:
        left = self.left_out
        out: dict[str, Any] = {
            "selection": [s.to_dict() for s in self.selection],
            "chosen": _candidate_dict(self.chosen),
            "held_out": {k: v.to_dict() for k, v in self.held_out.items()},
            "held_out_seen": dict(self.held_out_seen),
            "leave_one_benchmark_out": {k: v.apgr for k, v in left.items()},
            "leave_one_benchmark_out_ci95": {k: list(v.apgr_ci95) for k, v in left.items()},
            "leave_one_benchmark_out_n": {k: v.n for k, v in left.items()},
            "leave_one_benchmark_out_mean": self.left_out_mean,
            "calibration": {k: v.to_dict() for k, v in self.calibration.items()},
            "learned_from": {
                k: {"evaluated": v.evaluated, "learned": v.learned}
                for k, v in self.learned_from.items()
            },
            "embedder_kind": self.embedder_kind,
            "embedder_prompts_per_s": self.embedder_prompts_per_s,
            "timings": dict(self.timings),
        }
        if self.model_version is not None:
            out["model_version"] = self.model_version
        return out
