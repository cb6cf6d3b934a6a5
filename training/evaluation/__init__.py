"""Routing evaluation.

* ``metrics``   APGR, CPT (RouteLLM's definitions), AUC, Brier, bootstrap intervals
* ``evaluate``  score routing sets through the serving `Scorer` and write the report
* ``report``    metrics.json, report.md and PGR plots of an evaluation
"""

__all__ = ["evaluate", "metrics", "report"]
