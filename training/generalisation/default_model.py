"""`make train`: the default scorer, a model-agnostic difficulty learnt from every source.

Steps: pool every task's rows (wrappers stripped, one split per question), fit the
recipe chosen by leave-one-task-out (recipe.DEFAULT) on the train split, calibrate each
known model's chance of answering against the predicted difficulty, fit the novelty
model, set the default pair's thresholds, measure held-out (in-distribution) and
leave-one-task-out figures, and export the artifact.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage.embedding import Embedder
from llmtriage.scoring.features import LexicalSpec
from llmtriage.scoring.manifest import DataRef, ModelCalibration, Thresholds
from llmtriage.scoring.novelty import NoveltyModel
from llmtriage_train.data.loaders import (
    STRONG,
    WEAK,
    cheapest_and_strongest,
    llmrouter_models,
    load_llmrouter,
)
from llmtriage_train.data.splits import stable_split
from llmtriage_train.evaluation import metrics
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.generalisation.loto import (
    N_BUCKETS,
    Bank,
    Fitted,
    LotoResult,
    build_bank,
    fit,
    loto_folds,
    per_task,
    run_loto,
)
from llmtriage_train.generalisation.novelty_fit import fit_novelty
from llmtriage_train.generalisation.recipe import DEFAULT, Recipe
from llmtriage_train.generalisation.tasks import TaskTable
from llmtriage_train.model.crossval import fold_ids
from llmtriage_train.model.export import export_artifact
from llmtriage_train.model.thresholds import operating_points

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DEFAULT_SOURCE = "routellm"  # the artifact's default pair: RouteLLM's Mixtral vs GPT-4
DEFAULT_OPERATING_POINT = "quality_0.95"


@dataclass
class DefaultModelResult:
    """What `make train` reports (report.md, training_summary.json)."""

    model_version: str
    recipe: Recipe
    weak_model: str
    strong_model: str
    held_out: dict[str, dict[str, Any]]  # RouteLLM benchmarks and LLMRouter: their pair
    in_distribution: dict[str, float]  # per task, extreme pair, test split
    loto: LotoResult | None
    novelty: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "recipe": self.recipe.name,
            "pair": {"weak": self.weak_model, "strong": self.strong_model},
            "held_out": self.held_out,
            "in_distribution_per_task": self.in_distribution,
            "in_distribution_mean": float(np.mean(list(self.in_distribution.values()))),
            "leave_one_task_out": loto_dict(self.loto) if self.loto else None,
            "novelty": self.novelty,
            "timings": self.timings,
        }


def loto_dict(result: LotoResult) -> dict[str, Any]:
    """The generalisation.json shape the issue asks for."""
    return {
        "protocol": "leave-one-task-out",
        "recipe": result.name,
        "tasks": {
            name: {
                "n": t.n,
                "apgr": t.apgr,
                "sources": {s: v.to_dict() for s, v in t.sources.items()},
                "novel_rate": t.novel_rate,
                "apgr_novel_to_strong": t.apgr_novel_to_strong,
            }
            for name, t in sorted(result.tasks.items())
        },
        "mean_apgr": result.mean_apgr,
    }


def evaluated_pairs(root: Path) -> dict[str, tuple[str, str]]:
    """The pairs the field reports: RouteLLM's Mixtral vs GPT-4, LLMRouter's cheapest vs
    strongest (chosen on its train split). RouterDC's is its weakest vs strongest."""
    return {
        "routellm": (WEAK, STRONG),
        "llmrouter": cheapest_and_strongest(load_llmrouter(root), llmrouter_models(root)),
    }


def model_calibrations(table: TaskTable, fitted: Fitted) -> dict[str, ModelCalibration]:
    out = {}
    for source, cal in fitted.calibration.items():
        for name, (slope, intercept) in zip(table.models[source], cal, strict=True):
            key = name if name not in out else f"{source}:{name}"
            out[key] = ModelCalibration(slope=float(slope), intercept=float(intercept))
    return out


def pair_scores(fitted: Fitted, bank: Bank, rows: I64, source: str, weak: int, strong: int) -> F64:
    """The served score: the pair's expected gain mapped to [0, 1]."""
    return (1.0 + fitted.pair_scorer(bank, rows, source)(weak, strong)) / 2.0


def novelty_model(bank: Bank, train: I64, test: I64) -> tuple[NoveltyModel, dict[str, float]]:
    """Centroids on the train split; threshold on half the held-out rows (by hash), its
    rate checked on the other half."""
    emb = bank.raw[True].embeddings
    halves = np.array(
        stable_split([bank.table.keys[i] for i in test], test_fraction=0.5, salt="novelty")
    )
    calib, check = test[halves == "train"], test[halves == "test"]
    model = fit_novelty(emb[train], emb[calib])
    rate = float(np.mean(model.novelty_batch(emb[check]) > model.threshold))
    return model, {
        "threshold": model.threshold,
        "target_rate": model.rate,
        "rate_on_check_half": rate,
    }


def train_default(
    table: TaskTable,
    embedder: Embedder,
    embedder_dir: Path | None,
    out: Path,
    *,
    fixed_pairs: dict[str, tuple[str, str]],
    recipe: Recipe = DEFAULT,
    loto: bool = True,
    jobs: int = 2,
    name: str = "default",
) -> DefaultModelResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bank = build_bank(table, EmbeddingCache(embedder), fixed_pairs, strip_variants=(recipe.strip,))
    timings["features_s"] = time.perf_counter() - t0
    split = np.asarray(table.split)
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")

    t = time.perf_counter()
    fitted = fit(bank, train, recipe)
    timings["final_fit_s"] = time.perf_counter() - t
    weak_model, strong_model = fixed_pairs[DEFAULT_SOURCE]
    models = table.models[DEFAULT_SOURCE]
    w, s = models.index(weak_model), models.index(strong_model)

    # thresholds of the default pair, on its training rows (the fit's own: a ridge over a few
    # hundred features on ~30k rows barely overfits; `llmtriage tune --data` re-places them
    # for any pair from that pair's outcomes)
    src = np.asarray(table.source)
    pair_train = train[src[train] == DEFAULT_SOURCE]
    q = table.block(pair_train, DEFAULT_SOURCE)
    ops = operating_points(
        pair_scores(fitted, bank, pair_train, DEFAULT_SOURCE, w, s), q[:, w], q[:, s]
    )
    thresholds = Thresholds(
        tiers=["weak", "strong"],
        cutpoints=[ops[DEFAULT_OPERATING_POINT]],
        chosen_for=f"{DEFAULT_OPERATING_POINT} for {weak_model} vs {strong_model}, "
        "on that pair's training rows",
        operating_points=ops,
    )

    held_out = held_out_figures(bank, fitted, test, fixed_pairs)
    ind = {k: v.apgr for k, v in per_task(bank, fitted, test).items()}
    t = time.perf_counter()
    novelty, novelty_report = novelty_model(bank, train, test)
    timings["novelty_s"] = time.perf_counter() - t

    loto_result = None
    if loto:
        t = time.perf_counter()
        loto_result = run_loto(bank, recipe, loto_folds(table), jobs=jobs, novelty=True)
        timings["leave_one_task_out_s"] = time.perf_counter() - t

    calibration = model_calibrations(table, fitted)
    result = DefaultModelResult(
        model_version="",
        recipe=recipe,
        weak_model=weak_model,
        strong_model=strong_model,
        held_out=held_out,
        in_distribution=ind,
        loto=loto_result,
        novelty=novelty_report,
        timings=timings,
    )
    manifest = export_artifact(
        out,
        name=name,
        heads=fitted.heads,
        scaling=fitted.scaling,
        lexical=LexicalSpec(N_BUCKETS),
        embedder=embedder,
        embedder_dir=embedder_dir,
        label="difficulty",
        weak_model=weak_model,
        strong_model=strong_model,
        thresholds=thresholds,
        training_data=training_refs(table, train),
        max_chars=8000,
        hyperparameters={
            "recipe": recipe.name,
            "target": recipe.target,
            "blocks": list(recipe.blocks),
            "stat_products": recipe.products,
            "ridge_alpha": 1.0 / recipe.c,
            "task_balance_power": recipe.balance,
            "strip_wrappers": recipe.strip,
            "selection": "mean leave-one-task-out APGR (make generalisation)",
        },
        metrics=result.to_dict(),
        calibration=calibration,
        novelty=novelty,
    )
    result.model_version = manifest.model_version
    return result


def training_refs(table: TaskTable, train: I64) -> list[DataRef]:
    src = np.asarray(table.source)
    refs = []
    for s in table.models:
        rows = train[src[train] == s]
        digest = hashlib.sha256()  # every prompt with every model's quality on it
        for i, quality in zip(rows, table.block(rows, s), strict=True):
            cells = "\x00".join(f"{v:.6f}" for v in quality)
            digest.update(f"{table.prompts[i]}\x00{cells}\n".encode())
        refs.append(
            DataRef.model_validate(  # `models` is an extra field, not in DataRef's __init__
                {
                    "source": s,
                    "rows": int(rows.size),
                    "sha256": digest.hexdigest(),
                    "models": table.models[s],
                }
            )
        )
    return refs


def held_out_figures(
    bank: Bank, fitted: Fitted, test: I64, fixed_pairs: dict[str, tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """APGR / CPT of the evaluated pairs on the held-out split, as RouteLLM reports them."""
    t = bank.table
    src, task = np.asarray(t.source), np.asarray(t.task)
    out: dict[str, dict[str, Any]] = {}
    groups = [("routellm", n, n) for n in ("mmlu", "gsm8k", "mt_bench")] + [
        ("llmrouter", None, "llmrouter")
    ]
    for source, task_name, label in groups:
        rows = test[(src[test] == source) & ((task[test] == task_name) if task_name else True)]
        if rows.size == 0:
            continue
        models = t.models[source]
        w, s = models.index(fixed_pairs[source][0]), models.index(fixed_pairs[source][1])
        q = t.block(rows, source)
        scores = pair_scores(fitted, bank, rows, source, w, s)
        m = metrics.evaluate_scores(scores, q[:, w], q[:, s])
        ci = metrics.bootstrap_ci(metrics.apgr, scores, q[:, w], q[:, s], n_boot=300)
        out[label] = {
            **m.to_dict(),
            "apgr_ci95": [ci.low, ci.high],
            "pair": list(fixed_pairs[source]),
        }
    return out


def out_of_fold_scores(
    table: TaskTable,
    embedder: Embedder,
    fixed_pairs: dict[str, tuple[str, str]],
    recipe: Recipe = DEFAULT,
    *,
    folds: int = 3,
) -> dict[str, float]:
    """3-fold out-of-fold scores of `recipe` on the train split, for the evaluated pairs'
    rows, keyed "<benchmark>:<prompt>" as the savings report reads them (RouteLLM rows
    by task, LLMRouter's as "llmrouter"). The served artifact has seen every train row."""
    bank = build_bank(table, EmbeddingCache(embedder), fixed_pairs, strip_variants=(recipe.strip,))
    train = np.flatnonzero(np.asarray(table.split) == "train")
    fold = fold_ids([table.keys[i] for i in train], folds)
    src = np.asarray(table.source)
    out: dict[str, float] = {}
    for f in range(folds):
        fitted = fit(bank, train[fold != f], recipe)
        held = train[fold == f]
        for source, (weak, strong) in fixed_pairs.items():
            rows = held[src[held] == source]
            models = table.models[source]
            scores = pair_scores(
                fitted, bank, rows, source, models.index(weak), models.index(strong)
            )
            for i, s in zip(rows, scores, strict=True):
                name = table.task[i] if source == DEFAULT_SOURCE else source
                out[f"{name}:{table.raw_prompts[i]}"] = float(s)
    return out
