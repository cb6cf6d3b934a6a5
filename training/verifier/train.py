"""Train the cascade's verifier: P(the cheap model's answer is good | prompt, answer).

    python -m llmtriage_train.verifier --out models/verifier

Data: GSM8K (Mixtral's answer + whether it was correct) and MT-Bench (both models'
answers, each turn, with the GPT-4 judge's 1–10 score). MT-Bench rows are soft labels
(score − 1) / 9, learnt as fit.py does; for AUC they count as good when the judge gave
≥ GOOD_SCORE. The loaders' fixed split decides train and test: C is chosen by
cross-validation on the train split (folds by prompt hash), the final model is fit on
the train split and measured on the test split, which the savings report also uses.

Features (cascade.features, shared with serving): embedding of the prompt, embedding of
the answer, tf-idf hashed n-grams of the answer, answer statistics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from llmtriage.cascade.artifact import FORMAT_VERSION, VerifierManifest, VerifierWeights
from llmtriage.cascade.artifact import save_verifier as write_artifact
from llmtriage.cascade.features import ANSWER_STAT_NAMES, answer_stats_matrix
from llmtriage.cascade.verifier import Verifier
from llmtriage.embedding import Embedder
from llmtriage.scoring.features import LexicalSpec
from llmtriage.scoring.manifest import DataRef, EmbedderRef, LexicalRef, WeightsRef
from llmtriage.text import DEFAULT_MAX_CHARS, truncate
from llmtriage_train.data.datasets import data_root
from llmtriage_train.data.loaders import WEAK, load_gsm8k_responses, load_mt_bench_answers
from llmtriage_train.evaluation import metrics
from llmtriage_train.features.distill import DEFAULT_DIR as EMBEDDER_DIR
from llmtriage_train.features.distill import ensure_static_embedder
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.features.featurize import fit_idf, raw_features, tfidf_matrix
from llmtriage_train.model.crossval import fold_ids
from llmtriage_train.model.export import library_versions
from llmtriage_train.model.fit import LinearHeads, fit_heads

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

GOOD_SCORE = 8.0  # MT-Bench judge score counted as a good answer when a 0/1 label is needed
N_BUCKETS = 1 << 16  # ~1.3k training answers: 65k buckets keep collisions rare
C_GRID = (0.1, 0.3, 1.0)
FOLDS = 4
LABEL = "P(cheap answer good): GSM8K correct, or MT-Bench judge score (score - 1) / 9"


@dataclass(frozen=True)
class Examples:
    prompts: list[str]
    answers: list[str]
    label: F64  # soft label in [0, 1]
    good: F64  # 0/1 label for AUC
    source: list[str]  # "gsm8k" or "mt_bench"
    model: list[str]
    split: list[str]
    key: list[str]  # "gsm8k:<prompt>" or "mt_bench:<question_id>:<turn>"

    def __len__(self) -> int:
        return len(self.prompts)

    def rows(self, idx: I64) -> Examples:
        return Examples(
            [self.prompts[i] for i in idx],
            [self.answers[i] for i in idx],
            self.label[idx],
            self.good[idx],
            [self.source[i] for i in idx],
            [self.model[i] for i in idx],
            [self.split[i] for i in idx],
            [self.key[i] for i in idx],
        )

    def where(self, *, split: str | None = None, source: str | None = None) -> I64:
        keep = [
            i
            for i in range(len(self))
            if (split is None or self.split[i] == split)
            and (source is None or self.source[i] == source)
        ]
        return np.array(keep, dtype=np.int64)


def mt_bench_questions(root: Path) -> dict[int, list[str]]:
    path = root / "routellm" / "mt_bench" / "question.jsonl"
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {int(r["question_id"]): [str(t) for t in r["turns"]] for r in rows}


def load_examples(root: Path, *, cheap_model: str = WEAK) -> Examples:
    """GSM8K answers of the cheap model, MT-Bench answers of every model (any turn).

    An MT-Bench turn-2 row's prompt is the turn-2 question: the last user turn, which
    is what the proxy hands the verifier (RequestView.prompt)."""
    rows: list[tuple[str, str, float, float, str, str, str, str]] = []
    for g in load_gsm8k_responses(root):
        if g["model"] == cheap_model:
            y, key = float(g["correct"]), f"gsm8k:{g['prompt']}"
            rows.append((g["prompt"], g["response"], y, y, "gsm8k", g["model"], g["split"], key))
    turns = mt_bench_questions(root)
    for a in load_mt_bench_answers(root):
        if a["answer"] is None:
            continue
        prompt = turns[a["question_id"]][a["turn"] - 1]
        soft, good = (a["score"] - 1.0) / 9.0, float(a["score"] >= GOOD_SCORE)
        key = f"mt_bench:{a['question_id']}:{a['turn']}"
        rows.append((prompt, a["answer"], soft, good, "mt_bench", a["model"], a["split"], key))
    p, ans, soft_l, good_l, src, model, split, keys = (list(c) for c in zip(*rows, strict=True))
    return Examples(p, ans, np.array(soft_l), np.array(good_l), src, model, split, keys)


# --- features ------------------------------------------------------------------------


@dataclass(frozen=True)
class RawPairs:
    prompt_emb: F32
    answer_emb: F32
    stats: F32
    counts: sp.csr_matrix  # answer n-gram counts

    def rows(self, idx: I64) -> RawPairs:
        return RawPairs(
            self.prompt_emb[idx], self.answer_emb[idx], self.stats[idx], self.counts[idx]
        )


def raw_pairs(ex: Examples, cache: EmbeddingCache, *, n_buckets: int = N_BUCKETS) -> RawPairs:
    prompts = [truncate(p, DEFAULT_MAX_CHARS) for p in ex.prompts]
    answers = [truncate(a, DEFAULT_MAX_CHARS) for a in ex.answers]
    answer_raw = raw_features(answers, cache, LexicalSpec(n_buckets), max_chars=DEFAULT_MAX_CHARS)
    return RawPairs(
        cache.embed(prompts, desc="embedding prompts"),
        answer_raw.embeddings,
        answer_stats_matrix(prompts, answers),
        answer_raw.counts,
    )


@dataclass(frozen=True)
class PairScaling:
    stats_mean: F32
    stats_scale: F32
    idf: F32

    @staticmethod
    def fit(raw: RawPairs) -> PairScaling:
        scale = raw.stats.std(axis=0)
        scale[scale == 0] = 1.0
        return PairScaling(raw.stats.mean(axis=0), scale.astype(np.float32), fit_idf(raw.counts))

    def matrix(self, raw: RawPairs) -> sp.csr_matrix:
        stats = (raw.stats - self.stats_mean) / self.stats_scale
        dense = np.hstack([raw.prompt_emb, raw.answer_emb, stats])
        lexical = tfidf_matrix(raw.counts, self.idf)
        return sp.hstack([sp.csr_matrix(dense), lexical], format="csr", dtype=np.float32)


@dataclass(frozen=True)
class FittedVerifier:
    scaling: PairScaling
    heads: LinearHeads
    c: float

    def probs(self, raw: RawPairs) -> F64:
        return np.asarray(self.heads.probs(self.scaling.matrix(raw))[:, 0], dtype=np.float64)


def fit_verifier(raw: RawPairs, label: F64, *, c: float) -> FittedVerifier:
    scaling = PairScaling.fit(raw)
    heads = fit_heads(scaling.matrix(raw), [("cheap_good", label)], c=c, tol=1e-3)
    return FittedVerifier(scaling, heads, c)


def out_of_fold(raw: RawPairs, label: F64, prompts: Sequence[str], *, c: float) -> F64:
    """P(good) for every row from a model that never saw its prompt (folds by prompt)."""
    folds = fold_ids(prompts, FOLDS)
    out = np.zeros(len(label))
    for f in range(FOLDS):
        held, rest = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        out[held] = fit_verifier(raw.rows(rest), label[rest], c=c).probs(raw.rows(held))
    return out


def held_out_confidence(ex: Examples, verifier_dir: Path, embedder: Embedder) -> F64:
    """P(good) of every example from a model that never saw it: out-of-fold on the train
    split (with the artifact's C), the served artifact on the test split."""
    verifier = Verifier.load(verifier_dir, embedder=embedder)
    out = np.zeros(len(ex))
    train_rows, test_rows = ex.where(split="train"), ex.where(split="test")
    tr = ex.rows(train_rows)
    raw = raw_pairs(tr, EmbeddingCache(embedder), n_buckets=verifier.manifest.lexical.n_buckets)
    c = float(verifier.manifest.hyperparameters["C"])
    out[train_rows] = out_of_fold(raw, tr.label, tr.prompts, c=c)
    te = ex.rows(test_rows)
    out[test_rows] = verifier.probabilities(te.prompts, te.answers)
    return out


# --- evaluation ----------------------------------------------------------------------


def _auc(p: F64, good: F64) -> float | None:
    """ROC AUC of P(good) against the 0/1 label; None when one class only (undefined)."""
    return float(roc_auc_score(good, p)) if 0 < good.sum() < good.size else None


def evaluate(ex: Examples, p_good: F64) -> dict[str, Any]:
    """AUC per source and, for the cheap model's answers, AUC alone (what the cascade sees)."""
    out: dict[str, Any] = {}
    for source in dict.fromkeys(ex.source):
        rows = np.array([s == source for s in ex.source])
        cheap = rows & np.array([m == WEAK for m in ex.model])
        out[source] = {
            "n": int(rows.sum()),
            "auc": _auc(p_good[rows], ex.good[rows]),
            "auc_cheap_answers": _auc(p_good[cheap], ex.good[cheap]),
            "good_rate": float(ex.good[rows].mean()),
        }
    return out


def escalation_curve(
    p_good: F64, weak: F64, strong: F64, shares: Sequence[float] = tuple(np.linspace(0, 1, 11))
) -> list[tuple[float, float]]:
    """(share escalated, mean quality) when the lowest-confidence share goes to strong."""
    return [(float(s), metrics.quality_at(1.0 - p_good, weak, strong, float(s))) for s in shares]


# --- training run --------------------------------------------------------------------


def select_c(raw: RawPairs, ex: Examples, grid: Sequence[float] = C_GRID) -> dict[float, float]:
    """Mean out-of-fold AUC over the sources, per C."""
    scores = {}
    for c in grid:
        oof = out_of_fold(raw, ex.label, ex.prompts, c=c)
        aucs = [v["auc"] for v in evaluate(ex, oof).values() if v["auc"] is not None]
        scores[c] = float(np.mean(aucs))
    return scores


def _weights(model: FittedVerifier, dim: int) -> VerifierWeights:
    coef = model.heads.coef[0].astype(np.float32)
    n_dense = 2 * dim + len(ANSWER_STAT_NAMES)
    return VerifierWeights(
        dense_coef=coef[:n_dense],
        intercept=model.heads.intercept.astype(np.float32),
        stats_mean=model.scaling.stats_mean,
        stats_scale=model.scaling.stats_scale,
        lexical_coef=coef[n_dense:],
        idf=model.scaling.idf,
    )


def save_verifier(
    out: Path,
    model: FittedVerifier,
    embedder: Embedder,
    embedder_dir: Path | None,
    *,
    training_data: list[DataRef],
    metrics_: dict[str, Any],
    n_buckets: int = N_BUCKETS,
) -> VerifierManifest:
    out.mkdir(parents=True, exist_ok=True)
    ref_path = None
    if embedder_dir is not None:  # self-contained, like the scorer artifact
        ref_path = "embedder"
        shutil.rmtree(out / ref_path, ignore_errors=True)
        shutil.copytree(embedder_dir, out / ref_path)
    created = datetime.now(UTC)
    manifest = VerifierManifest(
        format_version=FORMAT_VERSION,
        name="verifier",
        model_version=f"verifier-{created:%Y%m%d%H%M%S}",
        created_at=created.isoformat(),
        cheap_model=WEAK,
        label=LABEL,
        embedder=EmbedderRef(
            kind=embedder.kind, fingerprint=embedder.fingerprint, dim=embedder.dim, path=ref_path
        ),
        lexical=LexicalRef(n_buckets=n_buckets, bigrams=True),
        stats=list(ANSWER_STAT_NAMES),
        max_chars=DEFAULT_MAX_CHARS,
        weights=WeightsRef(sha256="pending"),
        training_data=training_data,
        library_versions=library_versions(),
        hyperparameters={"C": model.c, "folds": FOLDS, "good_score": GOOD_SCORE},
        metrics=metrics_,
    )
    write_artifact(out, manifest, _weights(model, embedder.dim))
    return manifest


def _data_refs(ex: Examples, rows: I64) -> list[DataRef]:
    refs = []
    for source in dict.fromkeys(ex.source[i] for i in rows):
        sub = [i for i in rows if ex.source[i] == source]
        digest = hashlib.sha256()
        for i in sub:
            digest.update(f"{ex.prompts[i]}\0{ex.answers[i]}\0{ex.label[i]:.6f}\n".encode())
        refs.append(DataRef(source=source, rows=len(sub), sha256=digest.hexdigest()))
    return refs


def train(
    ex: Examples,
    embedder: Embedder,
    embedder_dir: Path | None,
    out: Path,
    *,
    cache: EmbeddingCache | None = None,
) -> dict[str, Any]:
    """Choose C, fit on the train split, measure on the test split, write the artifact."""
    t0 = time.perf_counter()
    raw = raw_pairs(ex, cache or EmbeddingCache(embedder))
    train_rows, test_rows = ex.where(split="train"), ex.where(split="test")
    tr, te = ex.rows(train_rows), ex.rows(test_rows)
    cv = select_c(raw.rows(train_rows), tr)
    best_c = max(cv, key=lambda c: cv[c])
    model = fit_verifier(raw.rows(train_rows), tr.label, c=best_c)
    p_test = model.probs(raw.rows(test_rows))
    summary: dict[str, Any] = {
        "cv_auc_by_C": {str(c): v for c, v in cv.items()},
        "chosen_C": best_c,
        "held_out": evaluate(te, p_test),
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
    }
    save_verifier(
        out,
        model,
        embedder,
        embedder_dir,
        training_data=_data_refs(ex, train_rows),
        metrics_=summary,
    )
    summary["seconds"] = time.perf_counter() - t0
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmtriage_train.verifier", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=Path("models/verifier"))
    parser.add_argument("--data", type=Path, default=None, help="data root (default: data_root())")
    args = parser.parse_args(argv)
    embedder = ensure_static_embedder()
    summary = train(load_examples(args.data or data_root()), embedder, EMBEDDER_DIR, args.out)
    print(json.dumps(summary, indent=2))
    print(f"verifier written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
