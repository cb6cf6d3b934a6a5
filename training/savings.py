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
the strong model is called (training/pricing.py); a cascade pays the cheap call on every
request and both calls on an escalated one; the verifier's CPU time is counted as 0.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmtriage.cascade.artifact import read_verifier_manifest
from llmtriage.embedding import Embedder
from llmtriage.scoring.artifact import read_manifest
from llmtriage_train import metrics
from llmtriage_train.datasets import data_root
from llmtriage_train.distill import ensure_static_embedder
from llmtriage_train.embed_cache import EmbeddingCache
from llmtriage_train.evaluate import score_set
from llmtriage_train.loaders import STRONG, WEAK
from llmtriage_train.pricing import COSTS, PRICES, TOKENIZER_NAME, TokenCounter
from llmtriage_train.routing_sets import benchmark_set
from llmtriage_train.verifier import (
    escalation_curve,
    held_out_confidence,
    load_examples,
    mt_bench_questions,
)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
Params = dict[str, float]

TARGET = 0.95
BENCHMARKS = ("gsm8k", "mt_bench", "mmlu")
# Savings practitioners quote for each strategy (percent of the always-strong bill).
PRACTITIONER_RANGES: dict[str, tuple[int, int]] = {
    "rules": (20, 40),
    "classification": (40, 60),
    "cascade": (30, 50),
    "hybrid": (50, 70),
}
# Rules a router config can state (`min_tokens`, `last_user_regex`): maths and code
# markers, and long prompts, go to the strong model.
MATH_PATTERN = (
    r"\d\s*[-+*/×÷^=<>]\s*\d|\\frac|\\sqrt|\b(?:calculate|compute|solve|equation|integral|"
    r"derivative|probability|percent(?:age)?|how (?:many|much))\b"
)
CODE_PATTERN = r"```|\bdef |\bclass |\bfunction\b|\breturn\b|\b(?:python|javascript|sql|code)\b"
CHARS_PER_TOKEN = 4  # the router's own token estimate (routing/tokens.py)


@dataclass(frozen=True)
class Bench:
    """One benchmark, row-aligned: qualities, per-request costs, router inputs."""

    name: str
    weak: F64
    strong: F64
    cost_cheap: F64  # USD per request
    cost_strong: F64
    score: F64  # classifier score (higher = strong model more worth it)
    p_good: F64 | None  # verifier P(cheap answer good); None: no answers to check
    tokens: F64  # the router's estimate, chars / 4
    billed_in: F64  # counted tokens (pricing.py), for the report
    billed_out_cheap: F64
    billed_out_strong: F64
    math: B
    code: B
    split: npt.NDArray[np.str_]

    def part(self, split: str) -> Bench:
        keep = self.split == split
        arrays = {
            k: (v[keep] if isinstance(v, np.ndarray) else v)
            for k, v in self.__dict__.items()
            if k != "name"
        }
        return replace(self, **arrays)


def rule_inputs(prompts: Sequence[str]) -> tuple[F64, B, B]:
    math_re, code_re = re.compile(MATH_PATTERN, re.I), re.compile(CODE_PATTERN, re.I)
    tokens = np.array([math.ceil(len(p) / CHARS_PER_TOKEN) for p in prompts], dtype=np.float64)
    return (
        tokens,
        np.array([bool(math_re.search(p)) for p in prompts]),
        np.array([bool(code_re.search(p)) for p in prompts]),
    )


# --- strategies ----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    cheap_called: B
    strong_called: B  # the strong answer is served whenever the strong model is called

    def quality(self, b: Bench) -> F64:
        return np.where(self.strong_called, b.strong, b.weak)

    def cost(self, b: Bench) -> F64:
        return self.cheap_called * b.cost_cheap + self.strong_called * b.cost_strong


def _rules_fire(b: Bench, p: Params) -> B:
    return (b.tokens >= p["min_tokens"]) | (b.math & (p["math"] > 0)) | (b.code & (p["code"] > 0))


def _always(strong: bool) -> Callable[[Bench, Params], Decision]:
    def decide(b: Bench, p: Params) -> Decision:
        ones = np.ones(len(b.weak), dtype=bool)
        return Decision(~ones if strong else ones, ones if strong else ~ones)

    return decide


def _rules(b: Bench, p: Params) -> Decision:
    fire = _rules_fire(b, p)
    return Decision(~fire, fire)


def _classification(b: Bench, p: Params) -> Decision:
    strong = b.score >= p["threshold"]
    return Decision(~strong, strong)


def _cascade(b: Bench, p: Params) -> Decision:
    assert b.p_good is not None
    return Decision(np.ones(len(b.weak), dtype=bool), b.p_good < p["threshold"])


def _hybrid(b: Bench, p: Params) -> Decision:
    """Rules first; then score >= high → strong, score < low → cheap, else cascade.
    Without answers to check (MMLU) the grid keeps low == high: rules + classifier."""
    direct = _rules_fire(b, p) | (b.score >= p["high"])
    band = ~direct & (b.score >= p["low"])
    escalate = band & (b.p_good < p["threshold"]) if b.p_good is not None else band & False
    return Decision(~direct, direct | escalate)


def _cuts(values: F64, steps: int) -> list[float]:
    """Thresholds at quantiles of the train values, plus both extremes."""
    qs = np.quantile(values, np.linspace(0.0, 1.0, steps + 1))
    return [-math.inf, *sorted(set(float(q) for q in qs)), math.inf]


def _thresholds(values: F64 | None) -> list[Params]:
    return [{"threshold": t} for t in _cuts(values, 50)] if values is not None else []


def _rule_grid(train: Bench, steps: int = 8) -> list[Params]:
    lengths = _cuts(train.tokens, steps)
    return [
        {"min_tokens": n, "math": m, "code": c} for n in lengths for m in (0, 1) for c in (0, 1)
    ]


def _hybrid_grid(train: Bench) -> list[Params]:
    rules = [r for r in _rule_grid(train, steps=4) if r["min_tokens"] > -math.inf]
    bounds = _cuts(train.score, 10)
    checks = _cuts(train.p_good, 10) if train.p_good is not None else [0.0]
    grid = []
    for r in rules:
        for i, low in enumerate(bounds):
            highs = bounds[i:] if train.p_good is not None else [low]
            for high in highs:
                grid += [{**r, "low": low, "high": high, "threshold": t} for t in checks]
    return grid


@dataclass(frozen=True)
class Strategy:
    name: str
    decide: Callable[[Bench, Params], Decision]
    grid: Callable[[Bench], list[Params]]
    needs_answers: bool = False


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("always strong", _always(True), lambda b: [{}]),
        Strategy("always cheap", _always(False), lambda b: [{}]),
        Strategy("rules", _rules, _rule_grid),
        Strategy("classification", _classification, lambda b: _thresholds(b.score)),
        Strategy("cascade", _cascade, lambda b: _thresholds(b.p_good), needs_answers=True),
        Strategy("hybrid", _hybrid, _hybrid_grid),
    )
}


# --- operating points ----------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    params: Params
    quality: float  # share of the strong model's mean quality
    cost: float  # mean USD per request


def evaluate(strategy: Strategy, b: Bench, params: Params) -> Point:
    d = strategy.decide(b, params)
    return Point(params, float(d.quality(b).mean() / b.strong.mean()), float(d.cost(b).mean()))


def choose(points: Sequence[Point], target: float = TARGET) -> Point:
    """Cheapest point at or above the target quality (ties: higher quality); if none
    reaches it, the highest-quality point."""
    feasible = [p for p in points if p.quality >= target - 1e-12]
    if not feasible:
        return max(points, key=lambda p: (p.quality, -p.cost))
    return min(feasible, key=lambda p: (p.cost, -p.quality))


def pareto(points: Sequence[Point]) -> list[Point]:
    """Points no other point beats on both cost and quality, by increasing cost."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.cost, -p.quality)):
        if not front or p.quality > front[-1].quality:
            front.append(p)
    return front


@dataclass(frozen=True)
class Row:
    benchmark: str
    strategy: str
    params: Params
    n_test: int
    train_quality: float  # % of strong quality
    test_quality: float
    test_quality_ci: tuple[float, float]
    cost_per_1k: float  # USD per 1,000 test requests
    saved: float  # % of the always-strong cost
    saved_ci: tuple[float, float]
    strong_share: float  # % of requests that call the strong model
    cheap_cost_share: float  # % of the strategy's cost paid to the cheap model
    reaches_target: bool  # on test
    curve: list[tuple[float, float]] = field(default_factory=list)  # (saved %, quality %)


def _ci(fn: Callable[..., float], *arrays: F64) -> tuple[float, float]:
    ci = metrics.bootstrap_ci(fn, *arrays, n_boot=500)
    return (100.0 * ci.low, 100.0 * ci.high)


def measure(strategy: Strategy, bench: Bench) -> Row:
    train, test = bench.part("train"), bench.part("test")
    points = [evaluate(strategy, train, p) for p in strategy.grid(train)]
    chosen = choose(points)
    d = strategy.decide(test, chosen.params)
    quality, cost = d.quality(test), d.cost(test)
    at_test = evaluate(strategy, test, chosen.params)
    curve = [evaluate(strategy, test, p.params) for p in pareto(points)]
    base = test.cost_strong.mean()
    return Row(
        benchmark=bench.name,
        strategy=strategy.name,
        params=chosen.params,
        n_test=len(test.weak),
        train_quality=100.0 * chosen.quality,
        test_quality=100.0 * at_test.quality,
        test_quality_ci=_ci(lambda q, s: float(q.mean() / s.mean()), quality, test.strong),
        cost_per_1k=1000.0 * at_test.cost,
        saved=100.0 * (1.0 - at_test.cost / base),
        saved_ci=_ci(lambda c, s: float(1.0 - c.sum() / s.sum()), cost, test.cost_strong),
        strong_share=100.0 * float(d.strong_called.mean()),
        cheap_cost_share=100.0 * float((d.cheap_called * test.cost_cheap).sum() / cost.sum()),
        reaches_target=at_test.quality >= TARGET - 1e-12,
        curve=[(100.0 * (1.0 - p.cost / base), 100.0 * p.quality) for p in curve],
    )


def measure_all(benches: Sequence[Bench]) -> list[Row]:
    return [
        measure(s, b)
        for b in benches
        for s in STRATEGIES.values()
        if not (s.needs_answers and b.p_good is None)
    ]


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
    from llmtriage_train.pipeline import TrainOptions, pool, select

    manifest = read_manifest(scorer_dir)
    hp, chosen = manifest.hyperparameters, manifest.metrics["chosen"]
    opts = TrainOptions(
        out=scorer_dir,  # not written: only pool() and select() run
        candidates=((chosen["label"], float(hp["C"]), float(hp["benchmark_balance_power"])),),
        block_weights=tuple(hp["block_weights"]),
        n_buckets=int(hp["n_buckets"]),
        max_chars=manifest.max_chars,
        lobo=False,
        jobs=1,
    )
    sets = [benchmark_set(ref.source, root) for ref in manifest.training_data]
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
    from llmtriage.scoring import Scorer

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
        score = [
            oof[f"{name}:{p}"] if split == "train" else float(served[i])
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


# --- report --------------------------------------------------------------------------


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        "Generated by `python -m llmtriage_train.savings` (training/savings.py); do not edit.",
        "",
        f"Models: cheap = `{WEAK}` (${cheap.input_per_mtok} / ${cheap.output_per_mtok} per M "
        f"tokens in / out), strong = `{STRONG}` (${strong.input_per_mtok} / "
        f"${strong.output_per_mtok}); sources and dates in training/pricing.py. Tokens counted "
        f"with the {TOKENIZER_NAME}, an approximation of both billing tokenizers.",
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
- Cost: list prices × counted tokens (training/pricing.py). A cascade request pays the
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure quality and cost of every strategy.")
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
