"""Fitting and exporting a complexity scorer.

* ``fit``           `fit_heads`, `LinearHeads`: the logistic-regression heads
* ``crossval``      `Candidate`, `cross_validate`: model selection on training rows
* ``thresholds``    `operating_points`: cut-points from out-of-fold scores
* ``export``        `export_artifact`: the pickle-free serving artifact
* ``pipeline``      `train`, `TrainOptions`: `llmtriage train --data/--candidates`
* ``summary``       `TrainSummary`: what `pipeline.train` measured, typed
* ``train_report``  `render`: models/<name>/report.md from a `TrainSummary`
"""

__all__ = ["crossval", "export", "fit", "pipeline", "summary", "thresholds", "train_report"]
