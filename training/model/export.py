"""Write a trained model as a pickle-free serving artifact."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage.embedding import Embedder
from llmtriage.scoring.artifact import Weights, save_artifact
from llmtriage.scoring.features import STAT_NAMES, LexicalSpec, n_stat_products
from llmtriage.scoring.manifest import (
    FORMAT_VERSION,
    DataRef,
    EmbedderRef,
    LabelDef,
    LexicalRef,
    Manifest,
    ModelCalibration,
    NoveltyRef,
    Thresholds,
    WeightsRef,
)
from llmtriage.scoring.novelty import NoveltyModel
from llmtriage_train.features.featurize import Scaling
from llmtriage_train.model.fit import LinearHeads

LABEL_TEXT = {
    "gain": "two heads: P(strong model good), P(weak model good); "
    "score = (1 + P(strong good) - P(weak good)) / 2 (expected gain of the strong model)",
    "weak_wrong": "one head: P(weak model fails); score = that probability",
    "difficulty": "one head: the prompt's difficulty for models in general (logit scale, "
    "learnt from every source's models); score = (1 + P(strong answers) - P(weak answers)) / 2 "
    "with each model's P from its calibration",
}
HEADS = {
    "gain": ["strong_good", "weak_good"],
    "weak_wrong": ["weak_wrong"],
    "difficulty": ["difficulty"],
}
LIBRARIES = ("numpy", "scikit-learn", "scipy", "model2vec", "sentence-transformers", "torch")


def weights_from(heads: LinearHeads, scaling: Scaling, dim: int) -> Weights:
    w_emb, w_stats, w_lex = scaling.block_weights
    n_stats = len(STAT_NAMES)
    n_products = n_stat_products(n_stats) if scaling.stat_products else 0
    coef = heads.coef.astype(np.float32)
    # float64 once the products' means are folded in; stored as float32 below
    intercept: npt.NDArray[np.floating[Any]] = heads.intercept.astype(np.float32)
    # fold the block weights into the coefficients so serving needs no extra multiply
    stats = coef[:, dim : dim + n_stats] * w_stats
    products = coef[:, dim + n_stats : dim + n_stats + n_products] * w_stats
    if scaling.products_mean is not None and scaling.products_scale is not None:
        # and the products' standardisation: w·(p − m)/s = (w/s)·p − (w/s)·m
        products = products / scaling.products_scale
        intercept = intercept - products @ scaling.products_mean
    dense = np.concatenate([coef[:, :dim] * w_emb, stats, products], axis=1)
    lexical = coef[:, dim + n_stats + n_products :] * w_lex if w_lex > 0 else None
    return Weights(
        dense_coef=dense,
        intercept=intercept.astype(np.float32),
        stats_mean=scaling.stats_mean,
        stats_scale=scaling.stats_scale,
        lexical_coef=lexical,
        idf=scaling.idf if lexical is not None else None,
    )


def library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            continue
    return out


def data_checksum(prompts: list[str], weak: np.ndarray, strong: np.ndarray) -> str:
    digest = hashlib.sha256()
    for p, w, s in zip(prompts, weak, strong, strict=True):
        digest.update(f"{p}\x00{w:.6f}\x00{s:.6f}\n".encode())
    return digest.hexdigest()


def export_artifact(
    out: Path,
    *,
    name: str,
    heads: LinearHeads,
    scaling: Scaling,
    lexical: LexicalSpec,
    embedder: Embedder,
    embedder_dir: Path | None,
    label: str,
    weak_model: str,
    strong_model: str,
    thresholds: Thresholds,
    training_data: list[DataRef],
    max_chars: int,
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    calibration: dict[str, ModelCalibration] | None = None,
    novelty: NoveltyModel | None = None,
) -> Manifest:
    out.mkdir(parents=True, exist_ok=True)
    ref_path = None
    if embedder_dir is not None:  # self-contained: the artifact carries its static embedder
        ref_path = "embedder"
        if (out / ref_path).exists():
            shutil.rmtree(out / ref_path)
        shutil.copytree(embedder_dir, out / ref_path)
    created = datetime.now(UTC)
    weights = weights_from(heads, scaling, embedder.dim)
    if novelty is not None:
        weights = replace(weights, novelty_centroids=novelty.centroids.astype(np.float32))
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name=name,
        model_version=f"{name}-{created:%Y%m%d%H%M%S}",
        created_at=created.isoformat(),
        embedder=EmbedderRef(
            kind=embedder.kind, fingerprint=embedder.fingerprint, dim=embedder.dim, path=ref_path
        ),
        lexical=LexicalRef(n_buckets=lexical.n_buckets, bigrams=lexical.bigrams)
        if weights.lexical_coef is not None
        else None,
        stats=list(STAT_NAMES),
        stat_products=scaling.stat_products,
        label=LabelDef(
            kind=label,  # type: ignore[arg-type]
            heads=HEADS[label],
            description=LABEL_TEXT[label],
            weak_model=weak_model,
            strong_model=strong_model,
            calibration=calibration or {},
        ),
        novelty=NoveltyRef(
            centroids=int(novelty.centroids.shape[0]),
            threshold=novelty.threshold,
            rate=novelty.rate,
        )
        if novelty is not None
        else None,
        max_chars=max_chars,
        weights=WeightsRef(sha256="pending"),
        thresholds=thresholds,
        training_data=training_data,
        library_versions=library_versions(),
        hyperparameters=hyperparameters,
        metrics=metrics,
    )
    return save_artifact(out, manifest, weights)
