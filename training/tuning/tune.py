"""Choose score cut-points for a stated target and measure them on held-out rows.

Tiers are ordered cheapest -> strongest; a prompt goes to the highest tier whose cut-point
its score reaches (`score >= cut`, as `Scorer.tier` does). Targets:

* ``quality=Q``  mean quality >= Q x the quality of sending everything to the top tier,
  at the lowest cost (fewest top-tier calls with two tiers);
* ``cost=C``     cost <= C USD per 1,000 requests, at the highest quality;
* ``strong-share=S``  a share S of calls to the top tier. With more than two tiers the
  lower tiers split the rest evenly (there is no quality signal to trade against).

Held-out protocol (`plan_rows`): tune on the train split, report on the test split. When
the artifact trained on exactly those train rows (its manifest keeps their checksum), its
scores there are in-sample — on GSM8K a cut tuned on them for 30 % strong calls sent 19 %
of test prompts to strong — so the test split is cross-fitted instead: 5 stratified folds,
each routed by cut-points tuned on the other four, and the cut-points to deploy are tuned
on all of it. CIs are percentile bootstraps over held-out rows.

The search (how cut-points are chosen on the tuning rows) is in tune_search.py, the
held-out evaluation and report in tune_eval.py; this module re-exports their public names.
"""

from __future__ import annotations

from llmtriage_train.tuning.held_out import (
    FOLDS,
    MIN_ROWS,
    TUNE_SALT,
    Report,
    RowPlan,
    TuneResult,
    assign,
    format_report,
    held_out_report,
    pgr,
    plan_rows,
    quality_share,
    retuned_ci,
    route_held_out,
    routed_quality,
    routed_report,
    stratified_folds,
    target_metric,
    trained_on,
    tune_rows,
)
from llmtriage_train.tuning.search import (
    GRID_QUANTILES,
    TARGETS,
    Picker,
    Target,
    Tuned,
    choose_cutpoints,
    parse_target,
)

__all__ = [
    "FOLDS",
    "GRID_QUANTILES",
    "MIN_ROWS",
    "TARGETS",
    "TUNE_SALT",
    "Picker",
    "Report",
    "RowPlan",
    "Target",
    "TuneResult",
    "Tuned",
    "assign",
    "choose_cutpoints",
    "format_report",
    "held_out_report",
    "parse_target",
    "pgr",
    "plan_rows",
    "quality_share",
    "retuned_ci",
    "route_held_out",
    "routed_quality",
    "routed_report",
    "stratified_folds",
    "target_metric",
    "trained_on",
    "tune_rows",
]
