"""`llmtriage calibrate`: point a difficulty artifact at your own model pair.

    llmtriage calibrate --model models/default --data outcomes.csv --weak small --strong big

The artifact predicts how hard a prompt is for models in general; which pair it routes
for is only its calibration: P(model answers) = sigmoid(slope · −difficulty + intercept)
per model. This fits that for the two columns of your outcomes file (on its train rows,
all rows when it has no split), writes them into the manifest as the scored pair, and
prints APGR on the file's test rows before and after. No retraining; run `llmtriage tune`
afterwards to place the thresholds for your quality or cost target.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmtriage.errors import InputError

if TYPE_CHECKING:  # the CLI registers every command at start: scikit-learn loads on use only
    from llmtriage.scoring.manifest import ModelCalibration


def register(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="calibrate a difficulty artifact for your model pair")
    p.add_argument("--model", type=Path, default=Path("models/default"))
    p.add_argument("--data", type=Path, required=True, help="outcomes file (CSV, JSONL, Parquet)")
    p.add_argument("--weak", required=True, help="cheap model's column")
    p.add_argument("--strong", required=True, help="strong model's column")
    p.set_defaults(handler=run)


def fit_calibration(difficulty: np.ndarray, quality: np.ndarray) -> ModelCalibration:
    """1-d logistic fit of one model's outcomes (soft allowed) on −difficulty."""
    import scipy.sparse as sp  # optional until used: scikit-learn behind fit_heads

    from llmtriage.scoring.manifest import ModelCalibration
    from llmtriage_train.model.fit import fit_heads

    heads = fit_heads(sp.csr_matrix(-difficulty[:, None]), [("m", quality)], c=100.0, tol=1e-6)
    return ModelCalibration(slope=float(heads.coef[0, 0]), intercept=float(heads.intercept[0]))


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: `llmtriage serve` loads this module to register it
    from llmtriage.scoring import Scorer
    from llmtriage.scoring.artifact import read_manifest, save_manifest
    from llmtriage_train.data.outcomes import OutcomesError, read_outcomes
    from llmtriage_train.evaluation import metrics

    manifest = read_manifest(args.model)
    if manifest.label.kind != "difficulty":
        raise InputError(
            f"{args.model} is a '{manifest.label.kind}' artifact, which learnt one pair; "
            "calibrate needs a difficulty artifact (the default `make train` writes one)"
        )
    try:
        outcomes = read_outcomes(args.data, models=[args.weak, args.strong])
    except (OutcomesError, OSError) as exc:
        raise InputError(str(exc)) from exc
    scorer = Scorer.load(args.model)
    split = np.array([s or "" for s in outcomes.split])
    fit_rows = split == "train" if (split == "train").any() else np.ones(split.size, bool)
    test_rows = split == "test"
    d = np.array([h[0] for h in scorer.head_logits_batch(list(outcomes.prompts))])
    weak_q, strong_q = outcomes.column(args.weak), outcomes.column(args.strong)
    before = scorer.score_batch([p for p, t in zip(outcomes.prompts, test_rows, strict=True) if t])
    calibration = {
        **manifest.label.calibration,
        args.weak: fit_calibration(d[fit_rows], weak_q[fit_rows]),
        args.strong: fit_calibration(d[fit_rows], strong_q[fit_rows]),
    }
    label = manifest.label.model_copy(
        update={"weak_model": args.weak, "strong_model": args.strong, "calibration": calibration}
    )
    save_manifest(args.model, manifest.model_copy(update={"label": label}))
    print(f"{args.model}: scores now for {args.weak} → {args.strong} ({int(fit_rows.sum())} rows)")
    if test_rows.any() and weak_q[test_rows].mean() != strong_q[test_rows].mean():
        after = Scorer.load(args.model).score_batch(
            [p for p, t in zip(outcomes.prompts, test_rows, strict=True) if t]
        )
        w, s = weak_q[test_rows], strong_q[test_rows]
        print(
            f"test rows ({int(test_rows.sum())}): APGR {metrics.apgr(np.array(before), w, s):.3f}"
            f" before, {metrics.apgr(np.array(after), w, s):.3f} after"
        )
    print("next: llmtriage tune --model ... --data ... --weak ... --strong ... --write manifest")
    return 0
