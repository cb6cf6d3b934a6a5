"""`llmtriage train --base DIR --data FILE`: an artifact adapted to labelled rows.

Reads the base artifact (weights, featuriser, calibration) and an outcomes file (README
"Outcomes format"), refits head and calibration on the file's rows (adapt.py; rows whose
`split` is "test" are left out for evaluation) and writes a new artifact with its own
`model_version` and a manifest `lineage`: the base's version, path and weights checksum,
the file's sha256, the rows used, the method and the prior strength chosen.

The pair's thresholds are re-placed so that the adapted model sends the same share of
these rows to each tier as the base did: a few hundred rows are too few to re-place a
quality operating point (`llmtriage tune --data` does that with more), but enough to
keep the cost the base was tuned for.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmtriage.errors import InputError
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_weights, save_artifact, sha256_file
from llmtriage.scoring.features import LexicalSpec, stats_matrix
from llmtriage.scoring.manifest import DataRef, Lineage, Manifest, ModelCalibration, Thresholds
from llmtriage.text import truncate, valid_utf8
from llmtriage_train.adaptation.adapt import METHOD, Adapted, Column, adapt, difficulty_of
from llmtriage_train.data.outcomes import Outcomes, read_outcomes
from llmtriage_train.features.featurize import RawFeatures, count_matrix
from llmtriage_train.generalisation.difficulty import rasch_difficulty
from llmtriage_train.generalisation.normalise import dedup_key
from llmtriage_train.model.export import library_versions

F64 = npt.NDArray[np.float64]
MIN_ROWS = 20  # five inner folds need a few rows each


@dataclass(frozen=True)
class AdaptResult:
    manifest: Manifest
    rows: int
    adapted: Adapted


def raw_features(texts: list[str], scorer: Scorer) -> RawFeatures:
    """The rows' raw features as the base scores them (its truncation, embedder, n-grams)."""
    m = scorer.manifest
    cut = [valid_utf8(truncate(t, m.max_chars)) for t in texts]
    spec = LexicalSpec(m.lexical.n_buckets, m.lexical.bigrams) if m.lexical else LexicalSpec(1)
    emb = np.asarray(scorer.embedder.embed(cut), dtype=np.float32)
    return RawFeatures(emb, stats_matrix(cut), count_matrix(cut, spec))


def rasch_target(outcomes: Outcomes) -> F64:
    """Logit Rasch difficulty of each row from the file's models (the base recipe's target)."""
    p = rasch_difficulty(
        [dedup_key(t) for t in outcomes.prompts],
        ["data"] * len(outcomes),
        {"data": outcomes.quality},
        np.arange(len(outcomes), dtype=np.int64),
        {"data": list(outcomes.models)},
    )
    return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)


def pair_scores(d: F64, cal: dict[str, tuple[float, float]], weak: str, strong: str) -> F64:
    """The served score (1 + P(strong answers) − P(weak answers)) / 2."""

    def p(name: str) -> F64:
        slope, intercept = cal[name]
        return np.asarray(1.0 / (1.0 + np.exp(-(intercept - slope * d))), dtype=np.float64)

    return (1.0 + p(strong) - p(weak)) / 2.0


def same_shares(base: Thresholds, before: F64, after: F64, pair: str) -> Thresholds:
    """Cut-points that give `after` the share of rows per tier that `before` had."""
    cuts: list[float] = []
    for c in base.cutpoints:
        above = float(np.mean(before >= c))
        cut = float(np.quantile(after, 1.0 - above)) if 0.0 < above < 1.0 else c
        cuts.append(max(cut, cuts[-1]) if cuts else cut)
    return Thresholds(
        tiers=list(base.tiers),
        cutpoints=cuts,
        chosen_for=f"the base's share of the labelled rows per tier, {pair}",
    )


def adapt_artifact(
    base_dir: Path,
    data: Path,
    out: Path,
    *,
    name: str | None = None,
    weak: str | None = None,
    strong: str | None = None,
) -> AdaptResult:
    """Adapt the artifact at `base_dir` to the outcomes in `data`; write it to `out`."""
    if out.resolve() == base_dir.resolve():
        raise InputError("--out must differ from --base: the base artifact is not overwritten")
    scorer = Scorer.load(base_dir)
    base = scorer.manifest
    if base.label.kind != "difficulty":
        raise InputError(
            f"--base {base_dir}: label kind '{base.label.kind}'; only difficulty artifacts "
            "(make train's default) can be adapted"
        )
    outcomes = read_outcomes(data)
    keep = [i for i, s in enumerate(outcomes.split) if s != "test"]
    outcomes = outcomes.subset(keep)
    if len(outcomes) < MIN_ROWS:
        raise InputError(
            f"{data}: {len(outcomes)} labelled rows (not split 'test'); need ≥ {MIN_ROWS}"
        )
    weights = read_weights(base_dir, base)
    raw = raw_features(outcomes.prompts, scorer)
    calibration = {k: (c.slope, c.intercept) for k, c in base.label.calibration.items()}
    columns = [
        Column(m, np.arange(len(outcomes), dtype=np.int64), outcomes.quality[:, j])
        for j, m in enumerate(outcomes.models)
    ]
    adapted = adapt(
        weights,
        calibration,
        raw,
        rasch_target(outcomes),
        columns,
        groups=[dedup_key(t) for t in outcomes.prompts],
    )
    weak, strong = weak or base.label.weak_model, strong or base.label.strong_model
    for model in (weak, strong):
        if model not in adapted.calibration:
            raise InputError(
                f"model {model!r} is neither calibrated in the base nor a column of {data}"
            )
    pair = f"{weak} vs {strong}"
    before = pair_scores(
        difficulty_of(weights, raw), calibration, base.label.weak_model, base.label.strong_model
    )
    after = pair_scores(difficulty_of(adapted.weights, raw), adapted.calibration, weak, strong)
    thresholds = same_shares(base.thresholds, before, after, pair)

    created = datetime.now(UTC)
    name = name or out.name
    version = f"{name}-{created:%Y%m%d%H%M%S}"
    if version == base.model_version:
        version = f"{version}-{created:%f}"
    digest = sha256_file(data)  # of the file's bytes, as given
    ref = DataRef(source=data.stem, rows=len(outcomes), sha256=digest)
    manifest = base.model_copy(
        update={
            "name": name,
            "model_version": version,
            "created_at": created.isoformat(),
            "label": base.label.model_copy(
                update={
                    "weak_model": weak,
                    "strong_model": strong,
                    "calibration": {
                        k: ModelCalibration(slope=s, intercept=i)
                        for k, (s, i) in adapted.calibration.items()
                    },
                }
            ),
            "thresholds": thresholds,
            "training_data": [*base.training_data, ref],
            "library_versions": library_versions(),
            "hyperparameters": {**base.hyperparameters, "adaptation": adapted.parameters()},
            "metrics": {"base_metrics": base.metrics, "adaptation_rows": len(outcomes)},
            "lineage": Lineage(
                base_version=base.model_version,
                base_path=str(base_dir),
                base_weights_sha256=base.weights.sha256,
                data=[DataRef.model_validate({**ref.model_dump(), "path": str(data)})],
                rows=len(outcomes),
                method=METHOD,
                parameters={"lambda": adapted.fit.lam, "models": list(outcomes.models)},
            ),
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    if base.embedder.path:  # self-contained, like the base: carry its embedder along
        target = out / base.embedder.path
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(base_dir / base.embedder.path, target)
    final = save_artifact(out, Manifest.model_validate(manifest.model_dump()), adapted.weights)
    return AdaptResult(final, len(outcomes), adapted)
