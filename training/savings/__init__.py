"""Measured quality and cost of every routing strategy (docs/savings.md).

* ``measure``     `savings_table`, `load_benches`; `python -m llmtriage_train.savings`
* ``strategies``  `STRATEGIES`: rules, classification, cascade, hybrid
* ``pricing``     list prices and token counts per prompt
* ``report``      the Markdown report and the quality-vs-cost plot
"""

__all__ = ["measure", "pricing", "report", "strategies"]
