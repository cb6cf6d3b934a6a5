"""`llmtriage train` and `llmtriage evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmtriage.embedding import Embedder
from llmtriage.embedding.transformer import TransformerEmbedder
from llmtriage.errors import InputError
from llmtriage.scoring import Scorer

# The llmtriage_train modules below are imported inside the commands, not here: the
# `llmtriage` CLI imports this module to register `train` and `evaluate`, and they pull
# in scikit-learn and scipy (tests/server: registering loads no training libraries).
if TYPE_CHECKING:
    from llmtriage_train.model.crossval import Candidate

DEFAULT_BENCHMARKS = ("mmlu", "gsm8k", "mt_bench", "llmrouter")


FLAGS = ("offsets", "products")


def _candidates(text: str) -> tuple[Candidate, ...]:
    """LABEL:C:BALANCE[:offsets][:products],... as crossval.Candidate objects."""
    from llmtriage_train.model.crossval import Candidate  # scikit-learn: see the top

    out = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) < 3 or not set(parts[3:]) <= set(FLAGS):
            raise argparse.ArgumentTypeError(
                f"'{item}': expected LABEL:C:BALANCE, optionally followed by :offsets "
                "and/or :products"
            )
        label, c, balance = parts[:3]
        flags = set(parts[3:])
        out.append(
            Candidate(
                label,
                float(c),
                float(balance),
                offsets="offsets" in flags,
                stat_products="products" in flags,
            )
        )
    return tuple(out)


def register_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a complexity scorer and write an artifact")
    p.add_argument(
        "--out", type=Path, default=None, help="default: models/default (with --base: BASE-adapted)"
    )
    p.add_argument("--name", default=None, help="artifact name (default: folder name)")
    p.add_argument(
        "--base",
        type=Path,
        help="adapt this artifact to --data's labelled rows (head refitted with the base's "
        "weights as a prior, models recalibrated; docs/adaptation.md) instead of training anew",
    )
    p.add_argument("--embedder", choices=("static", "transformer"), default="static")
    p.add_argument("--benchmarks", default=",".join(DEFAULT_BENCHMARKS))
    p.add_argument("--data", type=Path, help="your own outcomes file instead of the benchmarks")
    p.add_argument(
        "--sources",
        default="routellm,llmrouter,routerdc",
        help="benchmark sources the default scorer learns from (RouterDC has no licence "
        "file upstream: leave it out with routellm,llmrouter)",
    )
    p.add_argument("--weak", help="weak model column (with --data)")
    p.add_argument("--strong", help="strong model column (with --data)")
    p.add_argument(
        "--candidates",
        type=_candidates,
        default=None,
        help="LABEL:C:BALANCE[:offsets][:products],... to compare, "
        "e.g. gain:0.1:0.5:offsets,weak_wrong:0.1:0",
    )
    p.add_argument(
        "--llmrouter-labels",
        choices=("pair", "tiers"),
        default="pair",
        help="what the scorer learns from LLMRouter: the cheapest-vs-strongest pair it is "
        "evaluated on (default), or its cheap vs expensive price tiers",
    )
    p.add_argument("--sample", type=int, help="at most N rows per benchmark (quick runs)")
    p.add_argument(
        "--no-lobo",
        "--no-loto",
        dest="no_lobo",
        action="store_true",
        help="skip leave-one-benchmark-out (--data) / leave-one-task-out (benchmarks)",
    )
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(handler=run_train)


def register_evaluate(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="APGR / CPT / AUC of an artifact on outcomes data")
    p.add_argument("--model", type=Path, default=Path("models/default"))
    p.add_argument("--data", type=Path, help="outcomes file (CSV, JSONL, Parquet)")
    p.add_argument("--weak", help="weak model column")
    p.add_argument("--strong", help="strong model column")
    p.add_argument(
        "--benchmarks",
        nargs="?",
        const=",".join(DEFAULT_BENCHMARKS),
        help="evaluate on the benchmarks' held-out splits",
    )
    p.add_argument("--split", default="test", help="rows to evaluate ('all' for every row)")
    p.add_argument("--out", type=Path, help="report folder (default: MODEL/eval)")
    p.set_defaults(handler=run_evaluate)


def _user_set(args: argparse.Namespace) -> Any:
    # training modules load when the command runs (see the top)
    from llmtriage_train.data.outcomes import read_outcomes
    from llmtriage_train.data.routing_sets import from_outcomes
    from llmtriage_train.data.splits import stable_split

    if not args.weak or not args.strong:
        raise InputError("--data needs --weak COLUMN and --strong COLUMN")
    outcomes = read_outcomes(args.data, models=[args.weak, args.strong])
    if all(s is None for s in outcomes.split):
        outcomes = type(outcomes)(
            outcomes.prompts,
            outcomes.models,
            outcomes.quality,
            outcomes.source,
            list(stable_split(outcomes.prompts)),
            outcomes.task,
        )
    return from_outcomes(args.data.stem, outcomes, args.weak, args.strong)


def _sets(args: argparse.Namespace) -> list[Any]:
    from llmtriage_train.data.routing_sets import benchmark_set  # when run: see the top

    if args.data:
        return [_user_set(args)]
    names = [b for b in str(args.benchmarks).split(",") if b]
    tiers = getattr(args, "llmrouter_labels", "pair") == "tiers"
    return [benchmark_set(name, tiers=tiers) for name in names]


def _embedder(kind: str) -> tuple[Embedder, Path | None]:
    if kind == "transformer":
        return TransformerEmbedder.load(), None
    from llmtriage_train.features.distill import DEFAULT_DIR, ensure_static_embedder  # see top

    return ensure_static_embedder(), DEFAULT_DIR


def _sample(sets: list[Any], n: int) -> list[Any]:
    out = []
    for s in sets:
        rng = np.random.default_rng(0)
        idx = np.sort(rng.permutation(len(s))[:n]) if len(s) > n else np.arange(len(s))
        out.append(s.rows(idx))
    return out


def run_train_default(args: argparse.Namespace) -> int:
    """The benchmarks' default: a difficulty scorer from every source (generalisation/)."""
    # training modules load when the command runs (see the top)
    from llmtriage_train.data.datasets import data_root
    from llmtriage_train.generalisation.default_model import evaluated_pairs, train_default
    from llmtriage_train.generalisation.report import render_training_report
    from llmtriage_train.generalisation.tasks import load_tasks

    start = time.perf_counter()
    try:
        table = load_tasks(sources=[x for x in args.sources.split(",") if x])
        pairs = evaluated_pairs(data_root())
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from exc
    embedder, embedder_dir = _embedder(args.embedder)
    result = train_default(
        table,
        embedder,
        embedder_dir,
        args.out,
        fixed_pairs=pairs,
        loto=not args.no_lobo,
        jobs=args.jobs,
        name=args.name or args.out.name,
    )
    result.timings["total_s"] = time.perf_counter() - start
    summary = result.to_dict()
    report = render_training_report(result, model_dir=str(args.out))
    (args.out / "report.md").write_text(report, encoding="utf-8")
    (args.out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if result.loto is not None:
        eval_dir = args.out / "eval"
        eval_dir.mkdir(parents=True, exist_ok=True)
        (eval_dir / "generalisation.json").write_text(
            json.dumps(summary["leave_one_task_out"], indent=2) + "\n"
        )
    print(report)
    print(f"artifact written to {args.out} in {result.timings['total_s']:.0f} s")
    return 0


def run_adapt(args: argparse.Namespace) -> int:
    """`train --base DIR --data FILE`: a new artifact adapted from the base (adaptation/)."""
    from llmtriage_train.adaptation.artifact import adapt_artifact  # when run: see the top
    from llmtriage_train.data.outcomes import OutcomesError

    if not args.data:
        raise InputError("--base needs --data FILE (labelled rows in the outcomes format)")
    out = args.out or args.base.with_name(f"{args.base.name}-adapted")
    start = time.perf_counter()
    try:
        result = adapt_artifact(
            args.base, args.data, out, name=args.name, weak=args.weak, strong=args.strong
        )
    except (OutcomesError, OSError) as exc:
        raise InputError(str(exc)) from exc
    m = result.manifest
    print(
        f"adapted {m.lineage.base_version if m.lineage else args.base} with {result.rows} rows "
        f"of {args.data} (prior strength λ = {result.adapted.fit.lam:g}): {m.model_version} "
        f"written to {out} in {time.perf_counter() - start:.1f} s; recalibrated "
        f"{', '.join(result.adapted.refitted)}; thresholds for {m.label.weak_model} vs "
        f"{m.label.strong_model} (--weak/--strong to pick another pair)"
    )
    return 0


def run_train(args: argparse.Namespace) -> int:
    if args.base:
        return run_adapt(args)
    args.out = args.out or Path("models/default")
    if not args.data and not args.candidates and args.llmrouter_labels == "pair":
        return run_train_default(args)
    # training modules load when the command runs (see the top)
    from llmtriage_train.data.outcomes import OutcomesError
    from llmtriage_train.model.pipeline import TrainOptions, train
    from llmtriage_train.model.train_report import render

    start = time.perf_counter()
    try:
        sets = _sets(args)
    except (OutcomesError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from exc
    if args.sample:
        sets = _sample(sets, args.sample)
    embedder, embedder_dir = _embedder(args.embedder)
    opts = TrainOptions(
        out=args.out,
        name=args.name or args.out.name,
        **({"candidates": args.candidates} if args.candidates else {}),
        lobo=not args.no_lobo,
        jobs=args.jobs,
        extra={"embedder": args.embedder, "llmrouter_labels": args.llmrouter_labels},
    )
    summary = train(sets, embedder, embedder_dir, opts)
    summary.timings["total_s"] = time.perf_counter() - start
    report = render(summary, model_dir=str(args.out))
    (args.out / "report.md").write_text(report, encoding="utf-8")
    (args.out / "training_summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    print(report)
    print(f"artifact written to {args.out} in {summary.timings['total_s']:.0f} s")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    # training modules load when the command runs (see the top)
    from llmtriage_train.data.outcomes import OutcomesError
    from llmtriage_train.evaluation.evaluate import evaluate_sets, write_evaluation

    if not args.data and not args.benchmarks:
        raise InputError("give --data FILE --weak COL --strong COL, or --benchmarks")
    scorer = Scorer.load(args.model)
    try:
        sets = _sets(args)
    except (OutcomesError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from exc
    split = None if args.split == "all" else args.split
    results = evaluate_sets(scorer, sets, split=split)
    if not results:
        raise InputError(f"no rows in split '{args.split}'; try --split all")
    out = args.out or args.model / "eval"
    table = write_evaluation(out, results, title=f"Evaluation of {scorer.model_version}")
    print(table)
    print(f"report: {out}/report.md", file=sys.stderr)
    return 0
