"""`make generalisation`: every candidate recipe and the trivial baselines under
leave-one-task-out, side by side with their in-distribution figures.

    python -m llmtriage_train.generalisation.cli [--out models/default/eval] [--only NAME ...]
        [--embedder static|transformer]

Writes generalisation.json (the default recipe's per-task figures, the issue's shape,
plus a `selection` list over every candidate and baseline) and generalisation.md.
Selection is by mean LOTO APGR (selection.py: ties broken in distribution); the winner
should be recipe.DEFAULT (the run says so
when it is not, and exits non-zero, so the committed default cannot silently drift).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmtriage.embedding.transformer import TransformerEmbedder
from llmtriage_train.data.datasets import DataError, data_root
from llmtriage_train.features.distill import ensure_static_embedder
from llmtriage_train.features.embed_cache import EmbeddingCache
from llmtriage_train.generalisation.baselines import BASELINES, baseline_scores
from llmtriage_train.generalisation.default_model import evaluated_pairs, loto_dict
from llmtriage_train.generalisation.loto import (
    LotoResult,
    baseline_loto,
    build_bank,
    in_distribution,
    loto_folds,
    run_loto,
)
from llmtriage_train.generalisation.recipe import CANDIDATES, DEFAULT
from llmtriage_train.generalisation.report import loto_table, selection_table
from llmtriage_train.generalisation.selection import select
from llmtriage_train.generalisation.tasks import load_tasks

LOTO_START = "<!-- leave-one-task-out: written by make generalisation -->"
LOTO_END = "<!-- end leave-one-task-out -->"


def with_loto_section(report: str, table: str) -> str:
    """The model's report with its leave-one-task-out section put in (or replaced)."""
    section = f"{LOTO_START}\n## Leave-one-task-out (make generalisation)\n\n{table}\n{LOTO_END}\n"
    if LOTO_START in report and LOTO_END in report:
        head, rest = report.split(LOTO_START, 1)
        return head + section + rest.split(LOTO_END, 1)[1].lstrip("\n")
    title, _, body = report.partition("\n\n")
    return f"{title}\n\n{section}\n{body}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llmtriage_train.generalisation.cli")
    p.add_argument("--out", type=Path, default=Path("models/default/eval"))
    p.add_argument(
        "--only", action="append", help="a candidate's name (repeat for several; default: all)"
    )
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--embedder",
        choices=("static", "transformer"),
        default="static",
        help="transformer: the full MiniLM (slower: every prompt through the network once)",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        table = load_tasks()
        pairs = evaluated_pairs(data_root())
    except (DataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wanted = set(args.only) if args.only else None
    unknown = (wanted or set()) - {r.name for r in CANDIDATES}
    if unknown:
        print(f"error: unknown candidates {sorted(unknown)}", file=sys.stderr)
        return 2
    recipes = [r for r in CANDIDATES if wanted is None or r.name in wanted]
    embedder = (
        TransformerEmbedder.load() if args.embedder == "transformer" else ensure_static_embedder()
    )
    # only the prompt variants some selected recipe reads (each costs an embedding pass)
    variants = tuple(dict.fromkeys(r.strip for r in recipes))
    bank = build_bank(table, EmbeddingCache(embedder), pairs, strip_variants=variants)
    folds = loto_folds(table)

    rows: list[tuple[LotoResult, bool]] = []
    for name in BASELINES:
        rows.append((baseline_loto(bank, name, baseline_scores(name, table.prompts), folds), True))
    default_result = None
    for recipe in recipes:
        if args.embedder != "static":
            recipe = replace(recipe, name=f"{recipe.name} [{args.embedder}]")
        t = time.perf_counter()
        result = run_loto(bank, recipe, folds, jobs=args.jobs, novelty=recipe.name == DEFAULT.name)
        result.in_distribution = in_distribution(bank, recipe)
        print(
            f"{recipe.name:45s} LOTO {result.mean_apgr:.3f}  in-distribution "
            f"{result.in_distribution_mean:.3f}  ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
        rows.append((result, False))
        if recipe == DEFAULT and args.embedder == "static":
            default_result = result
    learnt = [r for r, baseline in rows if not baseline]
    winner, ties = select(learnt) if learnt else (None, [])
    wall = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = (
        loto_dict(default_result) if default_result else {"protocol": "leave-one-task-out"}
    )
    doc["selection"] = [
        {
            "name": r.name,
            "baseline": baseline,
            "loto_mean_apgr": r.mean_apgr,
            "in_distribution_mean_apgr": r.in_distribution_mean,
            "per_task": {k: v.apgr for k, v in sorted(r.tasks.items())},
        }
        for r, baseline in rows
    ]
    doc["selected"] = winner.name if winner else None
    doc["tied_with_best_loto"] = ties
    doc["wall_time_s"] = wall
    (args.out / "generalisation.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = ["# Leave-one-task-out", ""]
    if default_result:
        md += [f"Default recipe: **{DEFAULT.name}**", "", loto_table(default_result), ""]
    md += ["## Selection (candidates and baselines)", "", selection_table(rows, table.tasks), ""]
    md += [
        f"Selected: **{doc['selected']}** (best in-distribution mean among the candidates "
        f"whose LOTO mean is within two paired standard errors of the best: {', '.join(ties)}). "
        f"Wall time {wall:.0f} s on this machine.",
        "",
    ]
    (args.out / "generalisation.md").write_text("\n".join(md))
    report = args.out.parent / "report.md"
    if default_result is not None and report.is_file():
        report.write_text(with_loto_section(report.read_text(), loto_table(default_result)))
    print("\n".join(md))
    if (
        winner is not None
        and wanted is None
        and args.embedder == "static"
        and winner.name != DEFAULT.name
    ):
        print(
            f"error: the LOTO winner is '{winner.name}', not recipe.DEFAULT '{DEFAULT.name}'",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
