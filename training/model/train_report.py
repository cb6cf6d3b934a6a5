"""models/<name>/report.md: what `make train` measured, in tables."""

from __future__ import annotations

from typing import Any

from llmtriage_train.evaluation.report import ROUTELLM_BEST

TARGETS = {"mmlu": 0.68, "gsm8k": 0.65}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _interval(ci: list[float] | None) -> str:
    return f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else ""


def _learned_from(learned: dict[str, dict[str, str]]) -> list[str]:
    if not learned:
        return []
    return [
        "Learnt from other labels than the pair it is evaluated on "
        "(cross-validation scores against what is learnt; held-out and leave-one-out "
        "against the evaluated pair):",
        "",
        *[
            f"- {k}: learns {v['learned']}; evaluated on {v['evaluated']}"
            for k, v in learned.items()
        ],
        "",
    ]


def render(summary: dict[str, Any], *, model_dir: str) -> str:
    held = summary["held_out"]
    lines = [
        f"# Scorer `{summary['model_version']}`",
        "",
        f"Chosen by cross-validation on training rows: label **{summary['chosen']['label']}**, "
        f"C = {summary['chosen']['C']}, benchmark balance power "
        f"{summary['chosen']['balance']}, per-benchmark offsets "
        f"{'on' if summary['chosen'].get('offsets') else 'off'}, statistics' products "
        f"{'on' if summary['chosen'].get('stat_products') else 'off'}. "
        "Held-out splits are never used for any choice.",
        "",
        *_learned_from(summary.get("learned_from") or {}),
        "## Held-out splits (RouteLLM's best router per benchmark in brackets)",
        "",
        "| benchmark | n | APGR [95% CI] | APGR 10-bin | CPT(50%) | CPT(80%) | AUC "
        "| oracle APGR | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in held.items():
        base = ROUTELLM_BEST.get(name.replace("_", "-"), {})
        bracket = f" ({base['apgr']:.3f})" if base else ""
        cpt_b = f" ({_pct(base['cpt50'])})" if base else ""
        target = f"≥ {TARGETS[name]:.2f}" if name in TARGETS else "reported"
        lo, hi = m.get("apgr_ci95", [float("nan")] * 2)
        lines.append(
            f"| {name} | {m['n']} | {m['apgr']:.3f} [{lo:.2f}–{hi:.2f}]{bracket} | "
            f"{m['apgr_10bin']:.3f} | "
            f"{_pct(m['cpt50'])}{cpt_b} | {_pct(m['cpt80'])} | {m['auc']:.3f} | "
            f"{m['oracle_apgr']:.3f} | {target} |"
        )
    seen = summary.get("held_out_seen") or {}
    if seen:
        counts = ", ".join(f"{k} {v}" for k, v in seen.items())
        lines += [
            "",
            "Test rows whose prompt is also a training prompt (of any benchmark) are not "
            f"held out and not counted above: {counts}.",
        ]
    lobo = summary.get("leave_one_benchmark_out") or {}
    if lobo:
        ci = summary.get("leave_one_benchmark_out_ci95") or {}
        n = summary.get("leave_one_benchmark_out_n") or {}
        lines += [
            "",
            "## Leave one benchmark out (train on the others, test on every row of this one "
            "whose prompt they do not contain)",
            "",
            "| left out | n | APGR [95% CI] |",
            "|---|---|---|",
            *[
                f"| {k} | {n.get(k, '–')} | {v:.3f}{_interval(ci.get(k))} |"
                for k, v in lobo.items()
            ],
            f"| **mean** | | **{summary['leave_one_benchmark_out_mean']:.3f}** (target ≥ 0.56) |",
        ]
    lines += [
        "",
        "## Model selection (out-of-fold APGR on the training rows)",
        "",
        "| label | C | balance | offsets | products | mean (benchmarks ≥ 100 rows) "
        "| per benchmark |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["selection"]:
        per = ", ".join(f"{k} {v:.3f}" for k, v in r["cv_apgr_per_benchmark"].items())
        offsets = "on" if r.get("offsets") else "off"
        products = "on" if r.get("stat_products") else "off"
        lines.append(
            f"| {r['label']} | {r['C']} | {r['balance']} | {offsets} | {products} "
            f"| {r['cv_mean_apgr']:.3f} | {per} |"
        )
    lines += [
        "",
        "## Calibration of each head on held-out rows",
        "",
        "| head | n | Brier | Brier of base rate |",
        "|---|---|---|---|",
    ]
    for head, c in summary["calibration"].items():
        lines.append(f"| {head} | {c['n']} | {c['brier']:.4f} | {c['brier_base_rate']:.4f} |")
    t = summary["timings"]
    lines += [
        "",
        "## Cost of training",
        "",
        f"- {summary.get('embedder_kind', 'static')} embedding throughput: "
        f"{summary['embedder_prompts_per_s']:,.0f} prompts/s",
        *[f"- {k.removesuffix('_s').replace('_', ' ')}: {v:.1f} s" for k, v in t.items()],
        "",
        f"Per-benchmark PGR curves: `{model_dir}/eval/` (written by `make evaluate`).",
        "",
    ]
    return "\n".join(lines)
