"""Write a routing evaluation to a folder: metrics.json, report.md and one PGR plot each.

``results`` maps a benchmark name to ``(RoutingMetrics, RoutingCurves)`` as returned by
``llmtriage_train.evaluation.metrics.evaluate_scores`` / ``routing_curves``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmtriage_train.evaluation.metrics import RoutingCurves, RoutingMetrics

# Best router per benchmark in RouteLLM (Ong et al. 2024, arXiv 2406.18665, with data
# augmentation). Shares are fractions: cpt50 = 0.354 means 35.4% strong calls.
ROUTELLM_BEST: dict[str, dict[str, float]] = {
    "mmlu": {"apgr": 0.603, "cpt50": 0.354, "cpt80": 0.703},
    "gsm8k": {"apgr": 0.622, "cpt50": 0.336, "cpt80": 0.633},
    "mt-bench": {"apgr": 0.802, "cpt50": 0.134, "cpt80": 0.313},
}
ROUTELLM_SOURCE = "RouteLLM (arXiv 2406.18665), best router per benchmark"

_MISSING = "–"

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, RoutingMetrics field, format kind)
    ("n", "n", "int"),
    ("q_weak", "q_weak", "num"),
    ("q_strong", "q_strong", "num"),
    ("AUC", "auc", "num"),
    ("APGR (full)", "apgr", "num"),
    ("APGR (10-bin)", "apgr_10bin", "num"),
    ("CPT(50%)", "cpt50", "pct"),
    ("CPT(80%)", "cpt80", "pct"),
    ("CPT(50%) 10-bin", "cpt50_10bin", "pct"),
    ("CPT(80%) 10-bin", "cpt80_10bin", "pct"),
    ("oracle APGR", "oracle_apgr", "num"),
)
_BASELINE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("RouteLLM best APGR", "apgr", "num"),
    ("RouteLLM best CPT(50%)", "cpt50", "pct"),
    ("RouteLLM best CPT(80%)", "cpt80", "pct"),
)


def _key(name: str) -> str:
    """Loose benchmark key so "MT Bench", "mt_bench" and "mt-bench" meet."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _lookup(baselines: Mapping[str, Mapping[str, float]], name: str) -> Mapping[str, float]:
    by_key = {_key(k): v for k, v in baselines.items()}
    return by_key.get(_key(name), {})


def _fmt(value: float | int | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    if kind == "int":
        return str(int(value))
    if kind == "pct":
        return f"{100.0 * value:.1f}%"
    return f"{value:.3f}"


def format_table(
    metrics: Mapping[str, RoutingMetrics],
    *,
    baselines: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Markdown table, one row per benchmark; RouteLLM columns only when ``baselines``."""
    headers = ["benchmark"] + [h for h, _, _ in _COLUMNS]
    if baselines is not None:
        headers += [h for h, _, _ in _BASELINE_COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for name, m in metrics.items():
        cells = [name] + [_fmt(getattr(m, field), kind) for _, field, kind in _COLUMNS]
        if baselines is not None:
            ref = _lookup(baselines, name)
            cells += [_fmt(ref.get(field), kind) for _, field, kind in _BASELINE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "benchmark"


def _json_safe(value: Any) -> Any:
    """NaN/inf become null: strict JSON has no NaN and other tools choke on it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def plot_pgr(path: Path, name: str, metrics: RoutingMetrics, curves: RoutingCurves) -> None:
    """PGR against strong-call share: the scorer, RouteLLM's 11 points, random and oracle."""
    # matplotlib only when plotting (optional, slow to import); Figure + savefig without
    # pyplot: no global backend switch, no open-figure leak.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(100 * curves.shares, curves.pgr, label=f"router (APGR {metrics.apgr:.3f})")
    ax.plot(
        100 * curves.shares_10bin,
        curves.pgr_10bin,
        "o",
        markersize=4,
        label=f"10-bin points (APGR {metrics.apgr_10bin:.3f})",
    )
    ax.plot([0, 100], [0, 1], "--", color="grey", label="random (APGR 0.500)")
    ax.plot(
        100 * curves.shares,
        curves.oracle_pgr,
        ":",
        color="black",
        label=f"oracle (APGR {metrics.oracle_apgr:.3f})",
    )
    ax.axhline(1.0, color="red", linewidth=0.6)
    ax.set_xlabel("strong-model calls (%)")
    ax.set_ylabel("performance gap recovered")
    ax.set_title(f"{name}: n={metrics.n}, weak {metrics.q_weak:.3f}, strong {metrics.q_strong:.3f}")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=120)


def write_report(
    out_dir: str | Path,
    results: Mapping[str, tuple[RoutingMetrics, RoutingCurves]],
    *,
    title: str,
    baselines: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Write metrics.json, report.md and pgr_<benchmark>.png into ``out_dir``; return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {name: m for name, (m, _) in results.items()}

    plots: dict[str, str] = {}
    for name, (m, curves) in results.items():
        plots[name] = f"pgr_{_slug(name)}.png"
        plot_pgr(out / plots[name], name, m, curves)

    payload = {
        "title": title,
        "benchmarks": {
            name: {
                **m.to_dict(),
                "curve_10bin": {
                    "shares": curves.shares_10bin.tolist(),
                    "pgr": curves.pgr_10bin.tolist(),
                },
                "plot": plots[name],
            }
            for name, (m, curves) in results.items()
        },
        "baselines": None if baselines is None else {k: dict(v) for k, v in baselines.items()},
    }
    (out / "metrics.json").write_text(
        json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(_markdown(title, metrics, plots, baselines), encoding="utf-8")
    return out


def _markdown(
    title: str,
    metrics: Mapping[str, RoutingMetrics],
    plots: Mapping[str, str],
    baselines: Mapping[str, Mapping[str, float]] | None,
) -> str:
    parts = [
        f"# {title}",
        "",
        "PGR(c) = (q(c) - q_weak) / (q_strong - q_weak) when the top-scored share c of prompts "
        "goes to the strong model. APGR (full) is its area over every share k/n with tied "
        "scores averaged; APGR (10-bin) and the 10-bin CPTs follow RouteLLM's evaluation "
        "(decile cutoffs, np.interp). CPT(x%) is the smallest strong-call share reaching "
        "PGR >= x. Random routing has APGR 0.500.",
        "",
        format_table(metrics, baselines=baselines),
        "",
    ]
    if baselines is not None:
        parts += [f"RouteLLM columns: {ROUTELLM_SOURCE}.", ""]
    for name, file_name in plots.items():
        parts += [f"## {name}", "", f"![PGR curve for {name}]({file_name})", ""]
    return "\n".join(parts)
