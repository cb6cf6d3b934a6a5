"""Measured quality and cost of every routing strategy, written to docs/savings.md.

    python -m llmtriage_train.savings [--scorer models/default] [--verifier models/verifier]

For GSM8K and MT-Bench (both models' answers recorded) and MMLU (correctness only, so
no cascade), on the benchmarks' fixed held-out split:

    always strong | always cheap | rules | classification | cascade | hybrid

Each strategy is a family of configurations (a threshold, a rule set, a score band).
Its operating point is the cheapest configuration whose TRAIN quality reaches 95 % of
the strong model's, then measured on TEST. Train rows are scored out-of-fold (both
artifacts were fit on them; in-sample scores made thresholds far too optimistic).

Cost per request = cheap-call cost if the cheap model is called + strong-call cost if
the strong model is called (training/savings/pricing.py); a cascade pays the cheap call on every
request and both calls on an escalated one; the verifier's CPU time is counted as 0.

This module loads the benchmarks and runs the whole; the strategies and their measurement
live in savings_strategies.py, the Markdown and plot in savings_report.py (their public
names are re-exported here).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmtriage.cascade.artifact import read_verifier_manifest
from llmtriage.embedding import Embedder
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_manifest
from llmtriage_train.data.datasets import data_root
from llmtriage_train.data.loaders import WEAK
from llmtriage_train.data.routing_sets import benchmark_set
from llmtriage_train.evaluation.evaluate import score_set
from llmtriage_train.features.distill import ensure_static_embedder
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.generalisation.default_model import evaluated_pairs, out_of_fold_scores
from llmtriage_train.generalisation.tasks import load_tasks
from llmtriage_train.model.crossval import Candidate
from llmtriage_train.model.pipeline import TrainOptions, pool, select
from llmtriage_train.savings.pricing import COSTS, TokenCounter
from llmtriage_train.savings.report import (
    COLORS,
    METHOD,
    PRACTITIONER_RANGES,
    best_on_test,
    cascade_vs_classification,
    describe,
    intro_markdown,
    plot,
    practitioner_markdown,
    summary_markdown,
    table_markdown,
    verdict,
    verifier_markdown,
    write_report,
)
from llmtriage_train.savings.strategies import (
    CHARS_PER_TOKEN,
    CODE_PATTERN,
    F64,
    MATH_PATTERN,
    STRATEGIES,
    TARGET,
    Bench,
    Decision,
    Params,
    Point,
    Row,
    Strategy,
    choose,
    evaluate,
    measure,
    measure_all,
    pareto,
    rule_inputs,
)
from llmtriage_train.verifier.train import held_out_confidence, load_examples, mt_bench_questions

__all__ = [
    "BENCHMARKS",
    "CHARS_PER_TOKEN",
    "CODE_PATTERN",
    "COLORS",
    "MATH_PATTERN",
    "METHOD",
    "PRACTITIONER_RANGES",
    "STRATEGIES",
    "TARGET",
    "Bench",
    "Decision",
    "Params",
    "Point",
    "Row",
    "Strategy",
    "best_on_test",
    "cascade_vs_classification",
    "choose",
    "classifier_out_of_fold",
    "describe",
    "evaluate",
    "intro_markdown",
    "load_benches",
    "main",
    "measure",
    "measure_all",
    "pareto",
    "plot",
    "practitioner_markdown",
    "rule_inputs",
    "savings_table",
    "summary_markdown",
    "table_markdown",
    "verdict",
    "verifier_markdown",
    "write_report",
]

BENCHMARKS = ("gsm8k", "mt_bench", "mmlu")


# --- data ----------------------------------------------------------------------------


def _cheap_confidence(
    name: str, prompts: Sequence[str], conf: dict[str, float], root: Path
) -> F64 | None:
    """Verifier P(good) of the cheap model's answer per prompt. MT-Bench: the lower of
    the two turns (the cheap model answers the whole chat; one bad turn escalates it)."""
    if name == "gsm8k":
        return np.array([conf[f"gsm8k:{p}"] for p in prompts])
    if name == "mt_bench":
        qid = {turns[0]: q for q, turns in mt_bench_questions(root).items()}
        return np.array([min(conf[f"mt_bench:{qid[p]}:{t}"] for t in (1, 2)) for p in prompts])
    return None


def classifier_out_of_fold(scorer_dir: Path, root: Path, embedder: Embedder) -> dict[str, float]:
    """Out-of-fold scores of the served classifier's recipe on its training rows, keyed
    "<benchmark>:<prompt>": the classifier has seen every train row, so its own scores
    there are in-sample (GSM8K: ~97 % train vs ~75 % test quality at one threshold)."""

    manifest = read_manifest(scorer_dir)
    if manifest.label.kind == "difficulty":
        return out_of_fold_scores(load_tasks(root), embedder, evaluated_pairs(root))
    hp, chosen = manifest.hyperparameters, manifest.metrics["chosen"]
    opts = TrainOptions(
        out=scorer_dir,  # not written: only pool() and select() run
        candidates=(
            Candidate(
                chosen["label"],
                float(hp["C"]),
                float(hp["benchmark_balance_power"]),
                offsets=bool(hp.get("benchmark_offsets", False)),
                stat_products=bool(hp.get("stat_products", False)),
            ),
        ),
        block_weights=tuple(hp["block_weights"]),
        n_buckets=int(hp["n_buckets"]),
        max_chars=manifest.max_chars,
        lobo=False,
        jobs=1,
    )
    # what the artifact learnt from LLMRouter (artifacts older than the option: its pair)
    tiers = hp.get("llmrouter_labels", "pair") == "tiers"
    sets = [benchmark_set(ref.source, root, tiers=tiers) for ref in manifest.training_data]
    data = pool(sets, EmbeddingCache(embedder), opts)
    train = data.where(split="train")
    (cv,) = select(data, train, opts)
    return {
        f"{data.set_of_row[i]}:{data.prompts[i]}": float(s)
        for i, s in zip(train, cv.oof_scores, strict=True)
    }


def load_benches(
    root: Path, scorer_dir: Path, verifier_dir: Path, names: Sequence[str] = BENCHMARKS
) -> list[Bench]:

    counter = TokenCounter.default()
    embedder = ensure_static_embedder()
    examples = load_examples(root)
    p_good = held_out_confidence(examples, verifier_dir, embedder)
    conf = {
        k: float(p)
        for k, p, m in zip(examples.key, p_good, examples.model, strict=True)
        if m == WEAK
    }
    scorer = Scorer.load(scorer_dir)
    oof = classifier_out_of_fold(scorer_dir, root, embedder)
    benches = []
    for name in names:
        rs = benchmark_set(name, root)
        costs = COSTS[name](rs, root, counter)
        tokens, has_math, has_code = rule_inputs(rs.prompts)
        served = score_set(scorer, rs.prompts)
        # a train row the served model did not fit on (its question is held out under
        # another spelling or source) has no out-of-fold score: its served one is honest
        score = [
            oof.get(f"{name}:{p}", float(served[i])) if split == "train" else float(served[i])
            for i, (p, split) in enumerate(zip(rs.prompts, rs.split, strict=True))
        ]
        benches.append(
            Bench(
                name=name,
                weak=rs.weak,
                strong=rs.strong,
                cost_cheap=costs.cheap,
                cost_strong=costs.strong,
                score=np.asarray(score, dtype=np.float64),
                p_good=_cheap_confidence(name, rs.prompts, conf, root),
                tokens=tokens,
                billed_in=costs.tokens_in,
                billed_out_cheap=costs.tokens_out_cheap,
                billed_out_strong=costs.tokens_out_strong,
                math=has_math,
                code=has_code,
                split=np.array([s or "" for s in rs.split]),
            )
        )
    return benches


def savings_table(
    root: Path | None = None,
    scorer_dir: Path = Path("models/default"),
    verifier_dir: Path = Path("models/verifier"),
) -> list[Row]:
    """The report's table as data (one Row per benchmark × strategy), for notebooks."""
    return measure_all(load_benches(root or data_root(), scorer_dir, verifier_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmtriage_train.savings",
        description="Measure quality and cost of every strategy.",
    )
    parser.add_argument("--scorer", type=Path, default=Path("models/default"))
    parser.add_argument("--verifier", type=Path, default=Path("models/verifier"))
    parser.add_argument("--out", type=Path, default=Path("docs/savings.md"))
    parser.add_argument("--image", type=Path, default=Path("docs/savings.png"))
    parser.add_argument("--data", type=Path, default=None, help="data root (default: data_root())")
    args = parser.parse_args(argv)
    benches = load_benches(args.data or data_root(), args.scorer, args.verifier)
    rows = measure_all(benches)
    versions = [
        read_manifest(args.scorer).model_version,
        read_verifier_manifest(args.verifier).model_version,
    ]
    write_report(rows, benches, args.out, args.image, versions=versions)
    print(table_markdown(rows))
    print(f"wrote {args.out} and {args.image}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
