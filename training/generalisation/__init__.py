"""Generalisation to unseen tasks and the default difficulty scorer (`make train`).

* ``tasks``, ``normalise``  every labelled prompt as one (task, source) table
* ``difficulty``            model-agnostic difficulty targets (Rasch, mean)
* ``recipe``, ``loto``      candidate scorers and leave-one-task-out evaluation
* ``evaluation``            APGR per source over its model pairs
* ``baselines``, ``oracle`` trivial scorers and the true-difficulty bound
* ``selection``             pick the default recipe
* ``novelty_fit``           the novelty model's centroids and threshold
* ``default_model``         `train_default`: the artifact `make train` writes
* ``report``                Markdown for the figures
* ``cli``                   `make generalisation`; ``calibrate_cli``: `llmtriage calibrate`
"""

__all__ = [
    "baselines",
    "calibrate_cli",
    "cli",
    "default_model",
    "difficulty",
    "evaluation",
    "loto",
    "normalise",
    "novelty_fit",
    "oracle",
    "recipe",
    "report",
    "selection",
    "tasks",
]
