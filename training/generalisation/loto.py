"""Leave-one-task-out: fit on every other task, score every row of the left-out one.

For a left-out task, every row whose question (dedup_key) also occurs among the task's
rows is removed from training, whatever source or task it sits in: GSM8K questions
are also MGSM's English rows and appear in three sources. Novelty is fitted per fold
on the fold's training rows and calibrated on their held-out split, so its rate on the
left-out task says how often truly new prompts are flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.linear_model import Ridge

from llmtriage.scoring.features import LexicalSpec
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.features.featurize import RawFeatures, Scaling, raw_features
from llmtriage_train.generalisation.difficulty import mean_difficulty, rasch_difficulty
from llmtriage_train.generalisation.evaluation import (
    PairScorer,
    SourceScore,
    fixed_scorer,
    lifted_scorer,
    score_source,
    task_apgr,
)
from llmtriage_train.generalisation.novelty_fit import fit_novelty
from llmtriage_train.generalisation.recipe import Recipe
from llmtriage_train.generalisation.tasks import TaskTable
from llmtriage_train.model.fit import (
    LinearHeads,
    balanced_weights,
    combine,
    fit_heads,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
FIT_TOL = 1e-4  # lbfgs tolerance of every fit here (1e-3 left solver noise of ~0.01 APGR)
N_BUCKETS = 1 << 18
MAX_CHARS = 8000


@dataclass(frozen=True)
class Fold:
    task: str
    train: I64
    test: I64


def loto_folds(table: TaskTable, tasks: Sequence[str] | None = None) -> list[Fold]:
    out = []
    for task in tasks or table.tasks:
        test = table.rows(task=task)
        held = {table.keys[i] for i in test}
        train = np.array(
            [
                i
                for i, (t, k) in enumerate(zip(table.task, table.keys, strict=True))
                if t != task and k not in held
            ],
            dtype=np.int64,
        )
        out.append(Fold(task, train, test))
    return out


@dataclass(frozen=True)
class Bank:
    """The table with everything a fit needs computed once."""

    table: TaskTable
    raw: dict[bool, RawFeatures]  # keyed by `strip`
    pair_weak: F64  # per row: quality of its source's evaluated pair
    pair_strong: F64
    mean_hard: F64


def evaluated_pairs(
    table: TaskTable, fixed: dict[str, tuple[str, str]]
) -> dict[str, tuple[int, int]]:
    """Column indices (weak, strong) of each source's evaluated pair: `fixed` where given
    (RouteLLM's, LLMRouter's), else the lowest and highest mean on the train split."""
    out = {}
    split = np.asarray(table.split)
    src = np.asarray(table.source)
    for s, models in table.models.items():
        if s in fixed:
            out[s] = (models.index(fixed[s][0]), models.index(fixed[s][1]))
            continue
        rows = np.flatnonzero((src == s) & (split == "train"))
        means = table.quality[s][table.local[rows]].mean(axis=0)
        out[s] = (int(np.argmin(means)), int(np.argmax(means)))
    return out


def build_bank(
    table: TaskTable,
    cache: EmbeddingCache,
    fixed_pairs: dict[str, tuple[str, str]],
    *,
    strip_variants: Sequence[bool] = (True, False),
) -> Bank:
    spec = LexicalSpec(N_BUCKETS)
    texts = {True: table.prompts, False: table.raw_prompts}
    # novelty always reads the stripped prompts' embeddings
    raw = {
        strip: raw_features(texts[strip], cache, spec, max_chars=MAX_CHARS)
        for strip in dict.fromkeys((True, *strip_variants))
    }
    pairs = evaluated_pairs(table, fixed_pairs)
    n = len(table)
    weak, strong, hard = np.zeros(n), np.zeros(n), np.zeros(n)
    src = np.asarray(table.source)
    for s in table.models:
        rows = np.flatnonzero(src == s)
        q = table.quality[s][table.local[rows]]
        w, st = pairs[s]
        weak[rows], strong[rows] = q[:, w], q[:, st]
        hard[rows] = mean_difficulty(q)
    return Bank(table, raw, weak, strong, hard)


@dataclass(frozen=True)
class Fitted:
    """A fitted recipe. Difficulty recipes hold one head whose logit is the predicted
    difficulty b(x) and, per model they saw, a calibration (slope, intercept) with
    P(model answers) = sigmoid(slope * -b(x) + intercept); a pair's routing score is
    the expected gain P(strong answers) - P(weak answers). Pair recipes hold the old
    two heads and give every pair the same score."""

    recipe: Recipe
    scaling: Scaling
    heads: LinearHeads
    calibration: dict[str, F64] = field(default_factory=dict)  # source -> (models, 2)

    def matrix(self, bank: Bank, rows: I64) -> Any:
        return self.scaling.matrix(bank.raw[self.recipe.strip].rows(rows))

    def difficulty(self, bank: Bank, rows: I64) -> F64:
        x = self.matrix(bank, rows)
        out: F64 = np.asarray(x @ self.heads.coef[0]).ravel() + self.heads.intercept[0]
        return out

    def pair_scorer(self, bank: Bank, rows: I64, source: str) -> PairScorer:
        if self.recipe.label == "gain" or source not in self.calibration:
            fixed = combine("gain", self.heads.probs(self.matrix(bank, rows)))
            return lambda weak, strong: fixed
        d = self.difficulty(bank, rows)
        if self.recipe.monotone:
            return lambda weak, strong: d
        p = success_probs(d, self.calibration[source])
        return lambda weak, strong: p[:, strong] - p[:, weak]


def success_probs(difficulty: F64, calibration: F64) -> F64:
    """(rows, models) P(model answers) from predicted difficulty and (models, 2) calibration."""
    z = -difficulty[:, None] * calibration[None, :, 0] + calibration[None, :, 1]
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def training_rows(bank: Bank, rows: I64, recipe: Recipe) -> I64:
    if recipe.sources is None:
        return rows
    keep = np.isin(np.asarray(bank.table.source)[rows], recipe.sources)
    return rows[keep]


def difficulty_target(bank: Bank, rows: I64, recipe: Recipe) -> F64:
    """The difficulty each training row regresses on, on the logit scale."""
    t = bank.table
    if recipe.target == "mean":
        d = np.clip(bank.mean_hard[rows], 0.02, 0.98)
        return np.asarray(np.log(d / (1.0 - d)), dtype=np.float64)
    if recipe.target == "rasch":
        # fitted on these rows only: a left-out task's outcomes never shape the target
        p = rasch_difficulty(
            [t.keys[i] for i in rows],
            [t.source[i] for i in rows],
            t.quality,
            t.local[rows],
            t.models,
        )
        return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)
    raise ValueError(f"unknown difficulty target {recipe.target!r} (mean, rasch)")


def calibrate(bank: Bank, rows: I64, difficulty: F64) -> dict[str, F64]:
    """Per source and model: 1-d logistic fit of its outcomes on -difficulty."""
    src = np.asarray(bank.table.source)[rows]
    out = {}
    for s in dict.fromkeys(src):
        mine = src == s
        q = bank.table.block(rows[mine], str(s))
        x = sp.csr_matrix(-difficulty[mine][:, None])
        cal = np.zeros((q.shape[1], 2))
        for j in range(q.shape[1]):
            h = fit_heads(x, [("m", q[:, j])], c=100.0, tol=1e-6)
            cal[j] = (h.coef[0, 0], h.intercept[0])
        out[str(s)] = cal
    return out


def fit(bank: Bank, rows: I64, recipe: Recipe, *, tol: float = FIT_TOL) -> Fitted:
    rows = training_rows(bank, rows, recipe)
    raw = bank.raw[recipe.strip].rows(rows)
    scaling = Scaling.fit(raw, recipe.blocks, stat_products=recipe.products)
    x = scaling.matrix(raw)
    tasks = [bank.table.task[i] for i in rows]
    weights = balanced_weights(tasks, recipe.balance) if recipe.balance > 0 else None
    if recipe.label == "gain":
        ys = [("strong_good", bank.pair_strong[rows]), ("weak_good", bank.pair_weak[rows])]
        heads = fit_heads(x, ys, c=recipe.c, sample_weight=weights, tol=tol)
        return Fitted(recipe, scaling, heads)
    target = difficulty_target(bank, rows, recipe)
    groups = [f"{bank.table.source[i]}/{t}" for i, t in zip(rows, tasks, strict=True)]
    heads = fit_difficulty(x, target, recipe.c, weights, groups if recipe.offsets else None)
    d = np.asarray(x @ heads.coef[0]).ravel() + heads.intercept[0]
    return Fitted(recipe, scaling, heads, calibrate(bank, rows, d))


def fit_difficulty(
    x: Any, target: F64, c: float, weights: F64 | None, groups: Sequence[str] | None = None
) -> LinearHeads:
    """Ridge regression of the logit difficulty (alpha = 1 / C, as C is for the heads).

    With `groups` (source/task), each group's mean is taken off the target and the
    features first, which is a free intercept per group: the weights then learn what
    makes a prompt harder than the rest of its task, not which task is hard for these
    models (a property of the task and its models, not of a user's prompt)."""
    if groups is not None:
        x, target = _within_groups(x, target, groups, weights)
    model = Ridge(alpha=1.0 / c).fit(x, target, sample_weight=weights)
    coef = np.asarray(model.coef_, dtype=np.float64)[None, :]
    return LinearHeads(coef, np.array([float(model.intercept_)]))


def _within_groups(
    x: Any, target: F64, groups: Sequence[str], weights: F64 | None
) -> tuple[F64, F64]:
    dense = x.toarray() if sp.issparse(x) else np.asarray(x)
    w = np.ones(len(target)) if weights is None else weights
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    total = np.bincount(inverse, weights=w, minlength=names.size)
    centred_x = np.empty_like(dense, dtype=np.float64)
    for g in range(names.size):
        mine = inverse == g
        centred_x[mine] = dense[mine] - np.average(dense[mine], axis=0, weights=w[mine])
    means = np.bincount(inverse, weights=w * target, minlength=names.size) / total
    return centred_x, target - means[inverse]


def evaluate_rows(
    bank: Bank, rows: I64, fitted: Fitted | F64, *, first: npt.NDArray[np.bool_] | None = None
) -> dict[str, SourceScore]:
    """Per source holding some of `rows`: APGR over its model pairs, scored by a fitted
    recipe (pair-aware) or by one fixed score per row. Rows in `first` go to the strong
    model before any other (what `on_novel: tier strong` does to flagged prompts)."""
    src = np.asarray(bank.table.source)[rows]
    out = {}
    for s in dict.fromkeys(src):
        mine = src == s
        if isinstance(fitted, Fitted):
            scorer = fitted.pair_scorer(bank, rows[mine], str(s))
        else:
            scorer = fixed_scorer(fitted[mine])
        if first is not None:
            # every score here lies in [-1, 1] or is a rank
            scorer = lifted_scorer(scorer, 10.0 * first[mine])
        result = score_source(scorer, bank.table.block(rows[mine], str(s)))
        if result is not None:
            out[str(s)] = result
    return out


@dataclass
class TaskResult:
    n: int
    sources: dict[str, SourceScore]
    novel_rate: float | None = None
    apgr_novel_to_strong: float | None = None  # with on_novel: tier strong

    @property
    def apgr(self) -> float:
        return task_apgr(self.sources)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "apgr": self.apgr,
            "sources": {k: v.to_dict() for k, v in self.sources.items()},
        }
        if self.novel_rate is not None:
            out["novel_rate"] = self.novel_rate
            out["apgr_novel_to_strong"] = self.apgr_novel_to_strong
        return out


@dataclass
class LotoResult:
    name: str
    tasks: dict[str, TaskResult]
    in_distribution: dict[str, TaskResult] = field(default_factory=dict)

    @property
    def mean_apgr(self) -> float:
        return float(np.mean([t.apgr for t in self.tasks.values()]))

    @property
    def in_distribution_mean(self) -> float | None:
        vals = [t.apgr for t in self.in_distribution.values() if t.sources]
        return float(np.mean(vals)) if vals else None


def _novelty(bank: Bank, fold: Fold) -> npt.NDArray[np.bool_]:
    """Which of the fold's test rows the fold's novelty model flags."""
    emb = bank.raw[True].embeddings
    split = np.asarray(bank.table.split)[fold.train]
    model = fit_novelty(emb[fold.train[split == "train"]], emb[fold.train[split == "test"]])
    flags: npt.NDArray[np.bool_] = model.novelty_batch(emb[fold.test]) > model.threshold
    return flags


def _run_fold(bank: Bank, fold: Fold, recipe: Recipe, novelty: bool) -> TaskResult:
    fitted = fit(bank, fold.train, recipe)
    result = TaskResult(int(fold.test.size), evaluate_rows(bank, fold.test, fitted))
    if novelty:
        flags = _novelty(bank, fold)
        result.novel_rate = float(flags.mean())
        forced = evaluate_rows(bank, fold.test, fitted, first=flags)
        result.apgr_novel_to_strong = task_apgr(forced) if forced else None
    return result


def run_loto(
    bank: Bank, recipe: Recipe, folds: Sequence[Fold], *, jobs: int = 2, novelty: bool = False
) -> LotoResult:
    results = Parallel(n_jobs=jobs)(delayed(_run_fold)(bank, f, recipe, novelty) for f in folds)
    tasks = {f.task: r for f, r in zip(folds, results, strict=True) if r.sources}
    return LotoResult(recipe.name, tasks)


def per_task(bank: Bank, fitted: Fitted, rows: I64) -> dict[str, TaskResult]:
    """`fitted` scored on `rows`, one result per task that has a routable pair there."""
    task = np.asarray(bank.table.task)[rows]
    out = {}
    for name in bank.table.tasks:
        mine = rows[task == name]
        if mine.size:
            result = TaskResult(int(mine.size), evaluate_rows(bank, mine, fitted))
            if result.sources:
                out[name] = result
    return out


def in_distribution(bank: Bank, recipe: Recipe) -> dict[str, TaskResult]:
    """Fit on the train split of every task, score the test split: per task."""
    split = np.asarray(bank.table.split)
    fitted = fit(bank, np.flatnonzero(split == "train"), recipe)
    return per_task(bank, fitted, np.flatnonzero(split == "test"))


def baseline_loto(bank: Bank, name: str, scores: F64, folds: Sequence[Fold]) -> LotoResult:
    """A fixed scorer under the same protocol: no fit, the same test rows."""
    tasks = {}
    for f in folds:
        result = TaskResult(int(f.test.size), evaluate_rows(bank, f.test, scores[f.test]))
        if result.sources:
            tasks[f.task] = result
    return LotoResult(name, tasks)
