"""The savings report: Markdown sections and the quality-vs-cost plot (docs/savings.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.evaluation import metrics
from llmtriage_train.savings.pricing import PRICES, TOKENIZER_NAME
from llmtriage_train.savings.strategies import (
    CODE_PATTERN,
    MATH_PATTERN,
    TARGET,
    Bench,
    Params,
    Row,
)
from llmtriage_train.verifier.train import escalation_curve

# Savings practitioners quote for each strategy (percent of the always-strong bill).
PRACTITIONER_RANGES: dict[str, tuple[int, int]] = {
    "rules": (20, 40),
    "classification": (40, 60),
    "cascade": (30, 50),
    "hybrid": (50, 70),
}


def _num(x: float) -> str:
    return f"{x:.3f}".replace("inf", "∞")


def describe(params: Params) -> str:
    """A configuration in words, e.g. "rules: ≥120 tok or math; threshold 0.412"."""
    parts = []
    if "min_tokens" in params:
        n = params["min_tokens"]
        rules = ([f"≥{n:.0f} tok"] if math.isfinite(n) else []) + [
            k for k in ("math", "code") if params[k] > 0
        ]
        parts.append("rules: " + (" or ".join(rules) if rules else "none"))
    if "low" in params:
        low, high = params["low"], params["high"]
        parts.append(f"score ≥ {_num(high)} → strong" if math.isfinite(high) else "")
        if low < high:
            band = f"score in [{_num(low)}, {_num(high)})"
            if low == -math.inf:
                band = f"score < {_num(high)}" if math.isfinite(high) else "otherwise"
            parts.append(f"{band} → cascade at {_num(params['threshold'])}")
        if low > -math.inf:
            parts.append(f"score < {_num(low)} → cheap")
    elif "threshold" in params:
        parts.append(f"threshold {_num(params['threshold'])}")
    return "; ".join(p for p in parts if p) or "–"


def _fmt_ci(value: float, ci: tuple[float, float]) -> str:
    return f"{value:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"


def table_markdown(rows: Sequence[Row]) -> str:
    out = []
    for name in dict.fromkeys(r.benchmark for r in rows):
        sub = [r for r in rows if r.benchmark == name]
        out += [
            f"### {name} (test n = {sub[0].n_test})",
            "",
            "| strategy | operating point (chosen on train) | strong calls % | quality train % "
            "| quality test % [95% CI] | $ / 1k requests | saved % [95% CI] | ≥ 95 % on test |",
            "|---|---|---:|---:|---:|---:|---:|:---:|",
        ]
        for r in sub:
            out.append(
                f"| {r.strategy} | {describe(r.params)} | {r.strong_share:.0f} | "
                f"{r.train_quality:.1f} | {_fmt_ci(r.test_quality, r.test_quality_ci)} | "
                f"{r.cost_per_1k:.3f} | {_fmt_ci(r.saved, r.saved_ci)} | "
                f"{'yes' if r.reaches_target else '**no**'} |"
            )
        out.append("")
    return "\n".join(out)


def verdict(row: Row) -> str:
    low, high = PRACTITIONER_RANGES[row.strategy]
    if row.saved <= 0:
        where = "no saving"
    elif row.saved < low:
        where = "below"
    elif row.saved > high:
        where = "above"
    else:
        where = "within"
    return where if row.reaches_target else f"{where}, but misses 95 % on test"


def practitioner_markdown(rows: Sequence[Row]) -> str:
    names = list(dict.fromkeys(r.benchmark for r in rows))
    out = [
        "| strategy | practitioner range | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for strategy, (low, high) in PRACTITIONER_RANGES.items():
        cells = []
        for name in names:
            row = next((r for r in rows if r.benchmark == name and r.strategy == strategy), None)
            cells.append(f"{row.saved:.0f} % ({verdict(row)})" if row else "n/a")
        out.append(f"| {strategy} | {low}–{high} % | " + " | ".join(cells) + " |")
    ranged = [r for r in rows if r.strategy in PRACTITIONER_RANGES]
    held = [f"{r.strategy} on {r.benchmark}" for r in ranged if verdict(r) == "within"]
    out += [
        "",
        "Holds (saving within the range *and* ≥ 95 % quality on test): "
        + (", ".join(held) if held else "none")
        + ". Elsewhere the measured saving is outside the range or bought with quality "
        "below 95 % on test; MT-Bench cells rest on 15 questions.",
    ]
    return "\n".join(out)


COLORS = {
    "always strong": "tab:blue",
    "always cheap": "tab:orange",
    "rules": "tab:green",
    "classification": "tab:red",
    "cascade": "tab:purple",
    "hybrid": "tab:brown",
}


def plot(rows: Sequence[Row], path: Path) -> None:
    # matplotlib only when plotting (optional, slow to import); the backend is chosen
    # before pyplot loads
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend: see above

    names = list(dict.fromkeys(r.benchmark for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for r in (r for r in rows if r.benchmark == name):
            color = COLORS[r.strategy]
            xs, ys = zip(*sorted(r.curve), strict=True) if r.curve else ((), ())
            ax.plot(xs, ys, marker=".", lw=1, color=color, label=r.strategy)
            ax.scatter([r.saved], [r.test_quality], s=70, color=color, edgecolor="k", zorder=3)
        ax.axhline(100 * TARGET, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{name} (test)")
        ax.set_xlabel("cost saved vs always strong (%)")
        ax.set_ylabel("quality (% of strong model)")
        ax.set_xlim(-10, 100)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(
        "Train-Pareto configurations measured on test; big dots: ≥95 % point chosen on train"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verifier_markdown(benches: Sequence[Bench]) -> str:
    gsm = next(b for b in benches if b.name == "gsm8k").part("test")
    assert gsm.p_good is not None
    auc = metrics.auc(gsm.p_good, gsm.weak)
    auc_ci = metrics.bootstrap_ci(metrics.auc, gsm.p_good, gsm.weak, n_boot=500)
    clf_auc = metrics.auc(-gsm.score, gsm.weak)  # the classifier sees only the prompt
    lines = [
        f"Held-out GSM8K, {len(gsm.weak)} Mixtral answers ({100 * gsm.weak.mean():.0f} % "
        f"correct): verifier AUC **{auc:.3f}** (95 % CI {auc_ci.low:.3f}–{auc_ci.high:.3f}) "
        f'for "this answer is correct". For comparison the prompt-only classifier\'s score '
        f"ranks the same answers with AUC {clf_auc:.3f}.",
        "",
        "Escalating the least confident share of GSM8K test answers to GPT-4:",
        "",
        "| escalated % | " + " | ".join(f"{s:.0f}" for s in range(0, 101, 10)) + " |",
        "|---|" + "---:|" * 11,
    ]
    curve = escalation_curve(gsm.p_good, gsm.weak, gsm.strong)
    lines.append(
        "| quality, % of GPT-4 | "
        + " | ".join(f"{100 * q / gsm.strong.mean():.1f}" for _, q in curve)
        + " |"
    )
    return "\n".join(lines)


def _row(rows: Sequence[Row], name: str, strategy: str) -> Row | None:
    return next((r for r in rows if r.benchmark == name and r.strategy == strategy), None)


def best_on_test(row: Row) -> float | None:
    """Largest saving among the row's curve points at ≥ 95 % test quality: read off the
    test curve, so only a like-for-like comparison, not an operating point."""
    ok = [saved for saved, quality in row.curve if quality >= 100 * TARGET - 1e-9]
    return max(ok) if ok else None


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def cascade_vs_classification(rows: Sequence[Row]) -> str:
    out = []
    for name in dict.fromkeys(r.benchmark for r in rows):
        cas, clf = _row(rows, name, "cascade"), _row(rows, name, "classification")
        if cas is None or clf is None:
            out.append(f"- **{name}**: no cascade (no answer texts in the data).")
            continue
        cheaper = cas.cost_per_1k < clf.cost_per_1k
        cas_best, clf_best = best_on_test(cas), best_on_test(clf)
        text = (
            f"- **{name}**: at the points chosen on train the cascade costs "
            f"${cas.cost_per_1k:.3f} / 1k requests ({cas.saved:.0f} % saved, "
            f"{cas.test_quality:.1f} % quality) against classification's ${clf.cost_per_1k:.3f} "
            f"({clf.saved:.0f} % saved, {clf.test_quality:.1f} %): "
            f"**{'cheaper' if cheaper else 'not cheaper'}**. It escalates {cas.strong_share:.0f} % "
            f"of requests where classification sends {clf.strong_share:.0f} % to GPT-4, and "
            f"pays Mixtral on every request ({cas.cheap_cost_share:.1f} % of its bill)."
        )
        if cas_best is not None and clf_best is not None:
            text += (
                f" Read off the test curves at equal (≥ 95 %) quality: cascade {cas_best:.0f} % "
                f"saved, classification {clf_best:.0f} %."
            )
        if not cheaper and cas.reaches_target and not clf.reaches_target:
            text += (
                " Classification is cheaper there only because its train-chosen threshold "
                "falls short of 95 % on test."
            )
        if _overlap(cas.saved_ci, clf.saved_ci):
            text += " The two savings' 95 % intervals overlap: the difference is not resolved."
        out.append(text)
    out.append(
        "\nWhy the ranking can go either way: the cascade decides from the cheap answer "
        "itself, so it wins where an answer shows its own failure (GSM8K: the verifier's AUC "
        "for Mixtral's correctness is far above the prompt-only score's), and it costs an "
        "extra Mixtral call per request, small next to GPT-4 here. It loses where most "
        'escalations buy nothing: the verifier predicts "the cheap answer is poor", not '
        '"GPT-4\'s would be better", and on questions where both models do badly an '
        "escalation pays GPT-4 for no gain."
    )
    return "\n".join(out)


def summary_markdown(rows: Sequence[Row]) -> str:
    out = ["## Summary", ""]
    for name in dict.fromkeys(r.benchmark for r in rows):
        tuned = [r for r in rows if r.benchmark == name and r.strategy in PRACTITIONER_RANGES]
        hit = sorted((r for r in tuned if r.reaches_target), key=lambda r: -r.saved)
        miss = [r for r in tuned if not r.reaches_target]
        line = f"- **{name}** (n test = {tuned[0].n_test}): "
        line += (
            "≥ 95 % on test: " + ", ".join(f"{r.strategy} {r.saved:.0f} % saved" for r in hit)
            if hit
            else "no tuned strategy held 95 % on test"
        )
        if miss:
            line += "; missed 95 % on test (train-chosen point): " + ", ".join(
                f"{r.strategy} {r.test_quality:.1f} % quality at {r.saved:.0f} % saved"
                for r in miss
            )
        out.append(line + ".")
    tuned = [r for r in rows if r.strategy in PRACTITIONER_RANGES and not r.reaches_target]
    clear = [f"{r.benchmark} {r.strategy}" for r in tuned if r.test_quality_ci[1] < 100 * TARGET]
    out += [
        "",
        "Every tunable strategy reaches 95 % on train (each family contains all-strong); a "
        "test miss is the train-chosen point landing below the line on new rows. "
        + (
            "Misses whose test CI lies wholly below 95 %: " + ", ".join(clear) + "."
            if clear
            else "Every such miss has a test CI that includes 95 %."
        )
        + " Always-cheap reaches 95 % on no benchmark. MT-Bench has 15 test questions: its "
        "figures are anecdotes (see the CIs).",
    ]
    return "\n".join(out)


def intro_markdown(benches: Sequence[Bench]) -> str:
    strong, cheap = PRICES[STRONG], PRICES[WEAK]
    lines = [
        "# Savings by routing strategy, measured",
        "",
        "Generated by `python -m llmtriage_train.savings` (training/savings/measure.py); "
        "do not edit.",
        "",
        f"Models: cheap = `{WEAK}` (${cheap.input_per_mtok} / ${cheap.output_per_mtok} per M "
        f"tokens in / out), strong = `{STRONG}` (${strong.input_per_mtok} / "
        f"${strong.output_per_mtok}); sources and dates in training/savings/pricing.py. "
        f"Tokens counted with the {TOKENIZER_NAME}, an approximation of both billing "
        "tokenizers.",
        "",
        "Per request (test split):",
        "",
        "| benchmark | n test | mean tokens in | mean tokens out cheap / strong "
        "| $ / 1k cheap | $ / 1k strong | strong quality | cheap quality |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in benches:
        t = b.part("test")
        lines.append(
            f"| {b.name} | {len(t.weak)} | {t.billed_in.mean():.0f} | "
            f"{t.billed_out_cheap.mean():.0f} / {t.billed_out_strong.mean():.0f} | "
            f"{1000 * t.cost_cheap.mean():.3f} | {1000 * t.cost_strong.mean():.3f} | "
            f"{t.strong.mean():.3f} | {t.weak.mean():.3f} |"
        )
    return "\n".join(lines)


METHOD = """\
## Method

- Strategies. *Rules*: a prompt goes to the strong model when it is long (≥ N tokens,
  the router's chars/4 estimate) or matches the maths or code pattern below; N and which
  patterns are on are tuned. *Classification*: the served classifier (`models/default`)
  sends scores ≥ a threshold to the strong model. *Cascade*: Mixtral answers every
  request, the verifier (`models/verifier`) scores the answer, GPT-4 answers again when
  P(good) < a threshold. *Hybrid*: rules first, then score ≥ high → GPT-4, score < low →
  Mixtral unchecked, in between → cascade (MMLU has no answers to check: rules +
  classifier). On MT-Bench the cascade checks both turns of Mixtral's conversation and
  escalates the whole conversation when either turn is doubtful.
- Operating point: the cheapest configuration whose **train** quality is ≥ 95 % of
  GPT-4's, measured on **test**. Quality = mean correctness (GSM8K, MMLU) or mean
  normalised judge score (MT-Bench); % of strong = strategy quality / GPT-4 quality on
  the same rows, so routing can exceed 100 %. CIs: 500 bootstrap resamples of test rows.
- Scores on train rows are out-of-fold, so thresholds are not chosen on scores of rows
  a model was fit on: the verifier's from 4 folds by prompt, the classifier's from its
  own recipe's 3-fold cross-validation (pipeline.select with the artifact's label, C and
  balance). Test rows are scored by the served artifacts (`models/default`,
  `models/verifier`).
- Cost: list prices × counted tokens (training/savings/pricing.py). A cascade request pays the
  Mixtral call always and the GPT-4 call when escalated; the verifier's CPU time is 0.
"""


def write_report(
    rows: Sequence[Row],
    benches: Sequence[Bench],
    out: Path,
    image: Path,
    *,
    versions: Sequence[str] = (),
) -> None:
    plot(rows, image)
    text = "\n\n".join(
        [
            intro_markdown(benches)
            + (
                "\n\nArtifacts measured: " + ", ".join(f"`{v}`" for v in versions)
                if versions
                else ""
            ),
            summary_markdown(rows),
            METHOD,
            "Rule patterns (case-insensitive), maths then code:\n\n"
            f"~~~\n{MATH_PATTERN}\n{CODE_PATTERN}\n~~~",
            "## Verifier\n\n" + verifier_markdown(benches),
            "## Operating points at ≥ 95 % of GPT-4 quality\n\n"
            f"![quality vs cost]({image.name})\n\n" + table_markdown(rows),
            "## Against practitioner ranges (saving at the ≥ 95 % point, test)\n\n"
            + practitioner_markdown(rows),
            "## Cascade vs classification alone\n\n" + cascade_vs_classification(rows),
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
