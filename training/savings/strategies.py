"""Routing strategies for the savings report and their measured cost and quality.

A strategy is a family of configurations (`Strategy.grid`) and a rule that turns one
configuration into which model each request calls (`Strategy.decide`). `measure` picks
the cheapest configuration reaching TARGET of the strong model's quality on train and
measures it on test. Entry point and method: training/savings/measure.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from llmtriage_train.evaluation import metrics

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
Params = dict[str, float]

TARGET = 0.95

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
