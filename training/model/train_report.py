"""models/<name>/report.md: what `make train` measured, in tables."""

from __future__ import annotations

from llmtriage_train.evaluation.report import ROUTELLM_BEST
from llmtriage_train.model.summary import LearnedFrom, TrainSummary

TARGETS = {"mmlu": 0.68, "gsm8k": 0.65}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _learned_from(learned: dict[str, LearnedFrom]) -> list[str]:
    if not learned:
        return []
    return [
        "Learnt from other labels than the pair it is evaluated on "
        "(cross-validation scores against what is learnt; held-out and leave-one-out "
        "against the evaluated pair):",
        "",
        *[f"- {k}: learns {v.learned}; evaluated on {v.evaluated}" for k, v in learned.items()],
        "",
    ]


def render(summary: TrainSummary, *, model_dir: str) -> str:
    chosen = summary.chosen
    lines = [
        f"# Scorer `{summary.model_version}`",
        "",
        f"Chosen by cross-validation on training rows: label **{chosen.label}**, "
        f"C = {chosen.c}, benchmark balance power "
        f"{chosen.balance}, per-benchmark offsets "
        f"{_on(chosen.offsets)}, statistics' products "
        f"{_on(chosen.stat_products)}. "
        "Held-out splits are never used for any choice.",
        "",
        *_learned_from(summary.learned_from),
        "## Held-out splits (RouteLLM's best router per benchmark in brackets)",
        "",
        "| benchmark | n | APGR [95% CI] | APGR 10-bin | CPT(50%) | CPT(80%) | AUC "
        "| oracle APGR | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, held in summary.held_out.items():
        m = held.metrics
        base = ROUTELLM_BEST.get(name.replace("_", "-"), {})
        bracket = f" ({base['apgr']:.3f})" if base else ""
        cpt_b = f" ({_pct(base['cpt50'])})" if base else ""
        target = f"≥ {TARGETS[name]:.2f}" if name in TARGETS else "reported"
        lo, hi = held.apgr_ci95
        lines.append(
            f"| {name} | {m.n} | {m.apgr:.3f} [{lo:.2f}–{hi:.2f}]{bracket} | "
            f"{m.apgr_10bin:.3f} | "
            f"{_pct(m.cpt50)}{cpt_b} | {_pct(m.cpt80)} | {m.auc:.3f} | "
            f"{m.oracle_apgr:.3f} | {target} |"
        )
    if summary.held_out_seen:
        counts = ", ".join(f"{k} {v}" for k, v in summary.held_out_seen.items())
        lines += [
            "",
            "Test rows whose prompt is also a training prompt (of any benchmark) are not "
            f"held out and not counted above: {counts}.",
        ]
    if summary.left_out:
        lines += [
            "",
            "## Leave one benchmark out (train on the others, test on every row of this one "
            "whose prompt they do not contain)",
            "",
            "| left out | n | APGR [95% CI] |",
            "|---|---|---|",
            *[
                f"| {k} | {r.n} | {r.apgr:.3f} [{r.apgr_ci95[0]:.2f}–{r.apgr_ci95[1]:.2f}] |"
                for k, r in summary.left_out.items()
            ],
            f"| **mean** | | **{summary.left_out_mean:.3f}** (target ≥ 0.56) |",
        ]
    lines += [
        "",
        "## Model selection (out-of-fold APGR on the training rows)",
        "",
        "| label | C | balance | offsets | products | mean (benchmarks ≥ 100 rows) "
        "| per benchmark |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.selection:
        c = r.candidate
        per = ", ".join(f"{k} {v:.3f}" for k, v in r.per_benchmark.items())
        lines.append(
            f"| {c.label} | {c.c} | {c.balance} | {_on(c.offsets)} | {_on(c.stat_products)} "
            f"| {r.mean_apgr:.3f} | {per} |"
        )
    lines += [
        "",
        "## Calibration of each head on held-out rows",
        "",
        "| head | n | Brier | Brier of base rate |",
        "|---|---|---|---|",
    ]
    for head, cal in summary.calibration.items():
        lines.append(f"| {head} | {cal.n} | {cal.brier:.4f} | {cal.brier_base_rate:.4f} |")
    lines += [
        "",
        "## Cost of training",
        "",
        f"- {summary.embedder_kind} embedding throughput: "
        f"{summary.embedder_prompts_per_s:,.0f} prompts/s",
        *[
            f"- {k.removesuffix('_s').replace('_', ' ')}: {v:.1f} s"
            for k, v in summary.timings.items()
        ],
        "",
        f"Per-benchmark PGR curves: `{model_dir}/eval/` (written by `make evaluate`).",
        "",
    ]
    return "\n".join(lines)
