"""Markdown for the leave-one-task-out figures (report.md, generalisation.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmtriage_train.generalisation.default_model import DefaultModelResult
from llmtriage_train.generalisation.loto import LotoResult

SOURCES = ("routellm", "llmrouter", "routerdc")


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def loto_table(result: LotoResult) -> str:
    """One row per left-out task: n, APGR per source (extreme pair / mean over pairs),
    the task's figure, novelty rate and the APGR with `on_novel: tier strong`."""
    head = (
        "| left-out task | n | "
        + " | ".join(f"{s} extreme / pairs" for s in SOURCES)
        + " | **task APGR** | novel rate | APGR, novel → strong |"
    )
    rule = "|---|---:|" + "---:|" * len(SOURCES) + "---:|---:|---:|"
    lines = [head, rule]
    for name, t in sorted(result.tasks.items()):
        cells = []
        for s in SOURCES:
            v = t.sources.get(s)
            cells.append(
                ""
                if v is None
                else f"{v.apgr_extreme_pair:.3f} / {v.apgr_mean_pairs:.3f} ({v.pairs})"
            )
        rate = "—" if t.novel_rate is None else f"{100 * t.novel_rate:.0f}%"
        lines.append(
            f"| {name} | {t.n} | "
            + " | ".join(cells)
            + f" | **{t.apgr:.3f}** | {rate} | {_f(t.apgr_novel_to_strong)} |"
        )
    lines.append(
        f"| **mean over {len(result.tasks)} tasks** | | "
        + " | " * len(SOURCES)
        + f"**{result.mean_apgr:.3f}** | | |"
    )
    return "\n".join(lines)


def selection_table(rows: Sequence[tuple[LotoResult, bool]], tasks: Sequence[str]) -> str:
    """Candidates and baselines side by side: LOTO mean, in-distribution mean, per task.
    `rows`: (result, is_baseline)."""
    head = "| scorer | LOTO mean | in-distribution mean | " + " | ".join(tasks) + " |"
    rule = "|---|---:|---:|" + "---:|" * len(tasks)
    lines = [head, rule]
    for r, baseline in rows:
        name = f"*{r.name}* (baseline)" if baseline else r.name
        cells = [_f(r.tasks[t].apgr) if t in r.tasks else "" for t in tasks]
        lines.append(
            f"| {name} | **{r.mean_apgr:.3f}** | {_f(r.in_distribution_mean)} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def held_out_table(held_out: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| benchmark (its pair) | n | APGR [95% CI] | CPT(50%) | CPT(80%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in held_out.items():
        lo, hi = m["apgr_ci95"]
        pair = " vs ".join(p.split("/")[-1] for p in m["pair"])
        lines.append(
            f"| {name} ({pair}) | {m['n']} | {m['apgr']:.3f} [{lo:.2f}–{hi:.2f}] | "
            f"{100 * m['cpt50']:.1f}% | {100 * m['cpt80']:.1f}% |"
        )
    return "\n".join(lines)


def render_training_report(result: DefaultModelResult, *, model_dir: str) -> str:
    r = result
    lines = [
        f"# Scorer {r.model_version}",
        "",
        f"Recipe: **{r.recipe.name}** (target {r.recipe.target}, chosen by mean "
        "leave-one-task-out APGR: `make generalisation`). The score is the expected gain of "
        f"{r.strong_model} over {r.weak_model} given the predicted difficulty; "
        "`llmtriage tune --data` re-places the thresholds for another pair.",
        "",
    ]
    if r.loto is not None:
        lines += [
            "## Leave-one-task-out (prompts unlike the training data)",
            "",
            "Each task is left out in turn: the scorer is fitted on every other task, with "
            "every copy of the task's questions removed from every source, and scored on all "
            "of the task's rows. APGR per source: its weakest vs strongest model on the task "
            "(extreme) / mean over its pairs whose means differ by ≥ 0.05 (count). Random = 0.5.",
            "",
            loto_table(r.loto),
            "",
        ]
    lines += [
        "## Held out, in distribution (each benchmark's test split, its own pair)",
        "",
        held_out_table(r.held_out),
        "",
        f"Per task, extreme pair, test split: mean {np.mean(list(r.in_distribution.values())):.3f} "
        f"over {len(r.in_distribution)} tasks.",
        "",
        "## Novelty",
        "",
        f"Threshold {r.novelty['threshold']:.4f} (distance to the nearest of the training "
        f"centroids), calibrated for {100 * r.novelty['target_rate']:.0f}% on half the held-out "
        f"split; on the other half {100 * r.novelty['rate_on_check_half']:.1f}% are flagged.",
        "",
        "## Timings",
        "",
        *(f"- {k}: {v:.0f} s" for k, v in r.timings.items()),
        "",
        f"Artifact: `{model_dir}`.",
    ]
    return "\n".join(lines) + "\n"
