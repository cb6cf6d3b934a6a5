"""`make train`: data → features → model selection → artifact → evaluation report.

Protocol (see README): each RouteLLM benchmark has a fixed held-out split (hash of
the prompt), LLMRouter keeps its own test file. The default model trains on the
pooled training splits; hyper-parameters and thresholds are chosen on out-of-fold
scores of those training rows only, never on a test split. A leave-one-benchmark-out
run measures generalisation to a distribution the model has not seen. A prompt that
any fit trained on is never scored as held-out or left-out (benchmarks share a few).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from joblib import Parallel, delayed
from tqdm import tqdm

from llmtriage.embedding import Embedder
from llmtriage.scoring.features import LexicalSpec
from llmtriage.scoring.manifest import DataRef, Thresholds
from llmtriage_train.data.routing_sets import SEEN, RoutingSet, mark_seen_test_rows
from llmtriage_train.evaluation import metrics
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.features.featurize import RawFeatures, Scaling, raw_features
from llmtriage_train.model.crossval import (
    FIT_TOL,
    TOL,
    Candidate,
    CvResult,
    cross_validate,
    fit_candidate,
    fold_ids,
)
from llmtriage_train.model.export import data_checksum, export_artifact
from llmtriage_train.model.fit import combine
from llmtriage_train.model.summary import (
    HeadCalibration,
    HeldOut,
    LearnedFrom,
    LeftOut,
    Reliability,
    Selection,
    TrainSummary,
)
from llmtriage_train.model.thresholds import operating_points

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TrainOptions:
    out: Path
    name: str = "default"
    # candidates compared by cross-validation; weak_wrong is kept so the label choice
    # is re-measured every run
    candidates: tuple[Candidate, ...] = (
        *(
            Candidate("gain", c, balance, offsets=offsets, stat_products=products)
            for products in (False, True)
            for offsets in (False, True)
            for balance in (0.5, 1.0)
            for c in (0.1, 0.3)
        ),
        Candidate("weak_wrong", 0.1, 0.5),
    )
    block_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    n_buckets: int = 1 << 18
    folds: int = 3
    max_chars: int = 8000
    lobo: bool = True
    jobs: int = 2
    default_operating_point: str = "quality_0.95"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pooled:
    """All routing sets stacked, with their raw features computed once."""

    sets: list[RoutingSet]
    raw: RawFeatures
    weak: F64  # the evaluated pair: held-out and leave-one-out APGR
    strong: F64
    learn_weak: F64  # what the heads are fitted on and cross-validation scores against
    learn_strong: F64
    set_of_row: list[str]
    split: list[str | None]
    prompts: list[str]

    def where(self, *, split: str | None = None, sets: Sequence[str] | None = None) -> I64:
        keep = [
            i
            for i, (s, name) in enumerate(zip(self.split, self.set_of_row, strict=True))
            if (split is None or s == split) and (sets is None or name in sets)
        ]
        return np.array(keep, dtype=np.int64)


def pool(sets: Sequence[RoutingSet], cache: EmbeddingCache, opts: TrainOptions) -> Pooled:
    prompts = [p for s in sets for p in s.prompts]
    raw = raw_features(prompts, cache, LexicalSpec(opts.n_buckets), max_chars=opts.max_chars)
    return Pooled(
        sets=list(sets),
        raw=raw,
        weak=np.concatenate([s.weak for s in sets]),
        strong=np.concatenate([s.strong for s in sets]),
        learn_weak=np.concatenate([s.learns.weak for s in sets]),
        learn_strong=np.concatenate([s.learns.strong for s in sets]),
        set_of_row=[s.name for s in sets for _ in s.prompts],
        split=[x for s in sets for x in s.split],
        prompts=prompts,
    )


def _fit(data: Pooled, rows: I64, cand: Candidate, opts: TrainOptions) -> tuple[Scaling, Any]:
    scaling = Scaling.fit(data.raw.rows(rows), opts.block_weights, stat_products=cand.stat_products)
    x = scaling.matrix(data.raw.rows(rows))
    groups = [data.set_of_row[i] for i in rows]
    heads = fit_candidate(
        x, data.learn_weak[rows], data.learn_strong[rows], groups, cand, tol=FIT_TOL
    )
    return scaling, heads


def _predict(data: Pooled, rows: I64, scaling: Scaling, heads: Any, label: str) -> F64:
    return combine(label, heads.probs(scaling.matrix(data.raw.rows(rows))))


def select(data: Pooled, train: I64, opts: TrainOptions) -> list[CvResult]:
    """Cross-validated results of every candidate, in the order of opts.candidates."""
    candidates = list(opts.candidates)
    folds = fold_ids([data.prompts[i] for i in train], opts.folds)
    results: dict[Candidate, CvResult] = {}
    for products in dict.fromkeys(c.stat_products for c in candidates):
        group = [c for c in candidates if c.stat_products == products]
        scaling = Scaling.fit(data.raw.rows(train), opts.block_weights, stat_products=products)
        x: sp.csr_matrix = scaling.matrix(data.raw.rows(train))
        for r in cross_validate(
            x,
            data.learn_weak[train],
            data.learn_strong[train],
            [data.set_of_row[i] for i in train],
            folds,
            group,
            jobs=opts.jobs,
        ):
            results[r.candidate] = r
    return [results[c] for c in candidates]


def _lobo_one(
    data: Pooled, left_out: str, cand: Candidate, opts: TrainOptions
) -> tuple[float, float, float, int]:
    """APGR on every row of `left_out` whose prompt the fit did not see (its evaluated
    pair), and its 95% bootstrap interval."""
    others = [s.name for s in data.sets if s.name != left_out]
    fit_rows = data.where(sets=others)
    scaling, heads = _fit(data, fit_rows, cand, opts)
    seen = {data.prompts[i] for i in fit_rows}
    rows = np.array(
        [i for i in data.where(sets=[left_out]) if data.prompts[i] not in seen], dtype=np.int64
    )
    scores = _predict(data, rows, scaling, heads, cand.label)
    ci = metrics.bootstrap_ci(metrics.apgr, scores, data.weak[rows], data.strong[rows], n_boot=300)
    return ci.estimate, ci.low, ci.high, int(rows.size)


def leave_one_out(
    data: Pooled, cand: Candidate, opts: TrainOptions
) -> dict[str, tuple[float, float, float, int]]:
    names = [s.name for s in data.sets]
    results = Parallel(n_jobs=opts.jobs)(
        delayed(_lobo_one)(data, name, cand, opts)
        for name in tqdm(names, desc="leave-one-benchmark-out", unit="benchmark")
    )
    return dict(zip(names, results, strict=True))


def calibration(
    data: Pooled, rows: I64, scaling: Scaling, heads: Any, label: str
) -> dict[str, HeadCalibration]:
    """Brier score and reliability curve of each head on binary-labelled test rows."""
    probs = heads.probs(scaling.matrix(data.raw.rows(rows)))
    # against what each head was fitted on (LLMRouter: tier means, so soft and skipped)
    weak, strong = data.learn_weak[rows], data.learn_strong[rows]
    labels = {"strong_good": strong, "weak_good": weak}
    if label == "weak_wrong":
        labels = {"weak_wrong": 1.0 - weak}
    out: dict[str, HeadCalibration] = {}
    for i, (head, y) in enumerate(labels.items()):
        binary = np.isin(y, (0.0, 1.0))
        p, yb = probs[binary, i], y[binary]
        mean_pred, frac_pos, counts = metrics.reliability_curve(p, yb, bins=10)
        out[head] = HeadCalibration(
            n=int(binary.sum()),
            brier=metrics.brier(p, yb),
            brier_base_rate=metrics.brier(np.full_like(yb, yb.mean()), yb),
            reliability=Reliability(mean_pred.tolist(), frac_pos.tolist(), counts.tolist()),
        )
    return out


def embed_throughput(embedder: Embedder, prompts: Sequence[str], n: int = 5000) -> float:
    sample = list(prompts[:n])
    start = time.perf_counter()
    for i in range(0, len(sample), 256):
        embedder.embed(sample[i : i + 256])
    return len(sample) / (time.perf_counter() - start)


def train(
    sets: Sequence[RoutingSet],
    embedder: Embedder,
    embedder_dir: Path | None,
    opts: TrainOptions,
) -> TrainSummary:
    """Train, export the artifact to opts.out, and return everything the report shows."""
    sets = mark_seen_test_rows(sets)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = pool(sets, EmbeddingCache(embedder), opts)
    timings["features_s"] = time.perf_counter() - t0

    train_rows = data.where(split="train")
    t = time.perf_counter()
    cv = select(data, train_rows, opts)
    timings["cross_validation_s"] = time.perf_counter() - t
    best = max(cv, key=lambda r: r.mean_apgr)

    t = time.perf_counter()
    scaling, heads = _fit(data, train_rows, best.candidate, opts)
    timings["final_fit_s"] = time.perf_counter() - t

    ops = operating_points(
        best.oof_scores, data.learn_weak[train_rows], data.learn_strong[train_rows]
    )
    thresholds = Thresholds(
        tiers=["weak", "strong"],
        cutpoints=[ops[opts.default_operating_point]],
        chosen_for=f"{opts.default_operating_point} on out-of-fold scores of the training rows",
        operating_points=ops,
    )

    held_out: dict[str, HeldOut] = {}
    for s in data.sets:
        rows = data.where(split="test", sets=[s.name])
        if rows.size:
            scores = _predict(data, rows, scaling, heads, best.candidate.label)
            ci = metrics.bootstrap_ci(
                metrics.apgr, scores, data.weak[rows], data.strong[rows], n_boot=300
            )
            held_out[s.name] = HeldOut(
                metrics.evaluate_scores(scores, data.weak[rows], data.strong[rows]),
                (ci.low, ci.high),
            )
    test_rows = data.where(split="test")
    calib = calibration(data, test_rows, scaling, heads, best.candidate.label)

    left_out: dict[str, LeftOut] = {}
    if opts.lobo and len(data.sets) > 1:
        t = time.perf_counter()
        for name, (apgr, lo, hi, n) in leave_one_out(data, best.candidate, opts).items():
            left_out[name] = LeftOut(apgr, (lo, hi), n)
        timings["leave_one_out_s"] = time.perf_counter() - t

    summary = TrainSummary(
        selection=[Selection.of(r) for r in cv],
        chosen=best.candidate,
        held_out=held_out,
        held_out_seen={s.name: n for s in data.sets if (n := sum(x == SEEN for x in s.split))},
        left_out=left_out,
        calibration=calib,
        learned_from={
            s.name: LearnedFrom(
                evaluated=f"{s.weak_model} vs {s.strong_model}",
                learned=f"{s.target.weak_model} vs {s.target.strong_model}",
            )
            for s in data.sets
            if s.target is not None
        },
        embedder_kind=embedder.kind,
        embedder_prompts_per_s=embed_throughput(embedder, data.prompts),
        timings=timings,
    )
    weak_models = sorted({s.learns.weak_model for s in data.sets})
    strong_models = sorted({s.learns.strong_model for s in data.sets})
    manifest = export_artifact(
        opts.out,
        name=opts.name,
        heads=heads,
        scaling=scaling,
        lexical=LexicalSpec(opts.n_buckets),
        embedder=embedder,
        embedder_dir=embedder_dir,
        label=best.candidate.label,
        weak_model=", ".join(weak_models),
        strong_model=", ".join(strong_models),
        thresholds=thresholds,
        training_data=[
            DataRef.model_validate(  # extra fields: DataRef's __init__ does not name them
                {
                    "source": s.name,
                    "rows": int((idx := s.indices("train")).size),
                    "sha256": data_checksum(
                        [s.prompts[i] for i in idx], s.learns.weak[idx], s.learns.strong[idx]
                    ),
                    "weak_model": s.learns.weak_model,
                    "strong_model": s.learns.strong_model,
                }
            )
            for s in data.sets
        ],
        max_chars=opts.max_chars,
        hyperparameters={
            "C": best.candidate.c,
            "benchmark_balance_power": best.candidate.balance,
            "benchmark_offsets": best.candidate.offsets,
            "stat_products": best.candidate.stat_products,
            "label_selection": "mean out-of-fold APGR over benchmarks, "
            f"{opts.folds}-fold CV on training rows",
            "lbfgs_tol": {"selection": TOL, "final_fit": FIT_TOL},
            "block_weights": list(opts.block_weights),
            "n_buckets": opts.n_buckets,
            **opts.extra,
        },
        metrics=summary.to_dict(),
    )
    summary.model_version = manifest.model_version
    return summary
