"""The verifier artifact: manifest.json + weights.npz (+ embedder folder).

Same refusal rules as the scorer's artifact (scoring/artifact.py): JSON validated by
pydantic, arrays read with allow_pickle=False, the weights' sha256 must match the
manifest, array shapes must fit it, and the feature names must be the ones this
code computes, so a verifier trained on other features is refused, not misread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from llmtriage.cascade.features import ANSWER_STAT_NAMES
from llmtriage.errors import ArtifactError
from llmtriage.scoring.artifact import (
    MANIFEST,
    read_json_manifest,
    read_verified_npz,
    save_manifest,
    write_npz,
)
from llmtriage.scoring.manifest import DataRef, EmbedderRef, LexicalRef, WeightsRef

FORMAT_VERSION = 1
Array = npt.NDArray[np.float32]
_ARRAYS = ("dense_coef", "intercept", "stats_mean", "stats_scale", "lexical_coef", "idf")


class VerifierManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int
    kind: Literal["verifier"] = "verifier"
    name: str
    model_version: str
    created_at: str
    cheap_model: str  # whose answers it judges
    label: str  # what P(good) means
    embedder: EmbedderRef
    lexical: LexicalRef
    stats: list[str]
    max_chars: int = 8000
    weights: WeightsRef
    operating_points: dict[str, float] = Field(default_factory=dict)
    training_data: list[DataRef] = Field(default_factory=list)
    library_versions: dict[str, str] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class VerifierWeights:
    """Logistic regression over [emb(prompt) | emb(answer) | scaled stats] + answer n-grams."""

    dense_coef: Array  # (2 * dim + n_stats,)
    intercept: Array  # (1,)
    stats_mean: Array  # (n_stats,)
    stats_scale: Array  # (n_stats,)
    lexical_coef: Array  # (n_buckets,)
    idf: Array  # (n_buckets,)

    def arrays(self) -> dict[str, Array]:
        return {name: getattr(self, name) for name in _ARRAYS}


def save_verifier(directory: Path, manifest: VerifierManifest, weights: VerifierWeights) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    digest = write_npz(directory / manifest.weights.file, weights.arrays())
    final = manifest.model_copy(
        update={"weights": manifest.weights.model_copy(update={"sha256": digest})}
    )
    save_manifest(directory, final)


def read_verifier_manifest(directory: Path) -> VerifierManifest:
    manifest = read_json_manifest(
        directory,
        VerifierManifest,
        version=FORMAT_VERSION,
        missing_hint="run python -m llmtriage_train.verifier",
    )
    if tuple(manifest.stats) != ANSWER_STAT_NAMES:
        path = directory / MANIFEST
        raise ArtifactError(f"{path}: trained on other answer features than this code computes")
    return manifest


def read_verifier_weights(directory: Path, manifest: VerifierManifest) -> VerifierWeights:
    path = directory / manifest.weights.file
    arrays = read_verified_npz(directory, manifest.weights, what="verifier")
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise ArtifactError(f"{path}: missing arrays {missing}")
    weights = VerifierWeights(**{k: arrays[k] for k in _ARRAYS})
    _check_shapes(weights, manifest, path)
    return weights


def _check_shapes(w: VerifierWeights, m: VerifierManifest, path: Path) -> None:
    n_stats, buckets = len(m.stats), m.lexical.n_buckets
    expected = {
        "dense_coef": (2 * m.embedder.dim + n_stats,),
        "intercept": (1,),
        "stats_mean": (n_stats,),
        "stats_scale": (n_stats,),
        "lexical_coef": (buckets,),
        "idf": (buckets,),
    }
    arrays = w.arrays()
    bad = [f"{k} {arrays[k].shape} != {s}" for k, s in expected.items() if arrays[k].shape != s]
    if bad:
        raise ArtifactError(f"{path}: weights do not fit the manifest: {'; '.join(bad)}")
