"""Save and load a scorer artifact: manifest.json + weights.npz (+ embedder folder).

Pickle-free on purpose: numpy arrays are read with allow_pickle=False and the
manifest is JSON validated by pydantic, so opening an artifact cannot run code.
Every file the scorer depends on is checksummed in the manifest and verified here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from llmtriage.errors import ArtifactError
from llmtriage.scoring.features import n_stat_products
from llmtriage.scoring.manifest import FORMAT_VERSION, Manifest, WeightsRef

MANIFEST = "manifest.json"
Array = npt.NDArray[np.float32]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Weights:
    """A linear model with one row per head over [embedding | stats] and hashed n-grams."""

    dense_coef: Array  # (heads, dim + n_stats [+ n_stat_products])
    intercept: Array  # (heads,)
    stats_mean: Array  # (n_stats,)
    stats_scale: Array  # (n_stats,)
    lexical_coef: Array | None = None  # (heads, n_buckets)
    idf: Array | None = None  # (n_buckets,)
    novelty_centroids: Array | None = None  # (k, embedding dim), L2-normalised

    def arrays(self) -> dict[str, Array]:
        out = {
            "dense_coef": self.dense_coef,
            "intercept": self.intercept,
            "stats_mean": self.stats_mean,
            "stats_scale": self.stats_scale,
        }
        if self.lexical_coef is not None and self.idf is not None:
            out["lexical_coef"] = self.lexical_coef
            out["idf"] = self.idf
        if self.novelty_centroids is not None:
            out["novelty_centroids"] = self.novelty_centroids
        return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_npz(path: Path, arrays: Mapping[str, Array]) -> str:
    """Write float32 arrays to a compressed .npz; returns the file's sha256."""
    contiguous = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    with path.open("wb") as fh:
        np.savez_compressed(fh, **contiguous)  # type: ignore[arg-type]
    return sha256_file(path)


def write_weights(path: Path, weights: Weights) -> str:
    return write_npz(path, weights.arrays())


def save_manifest(directory: Path, manifest: BaseModel) -> None:
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=False)
    (directory / MANIFEST).write_text(text + "\n", encoding="utf-8")


def read_json_manifest(directory: Path, model: type[M], *, version: int, missing_hint: str) -> M:
    """Parse directory/manifest.json into `model`, refusing other format versions."""
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST} in {directory}: {missing_hint}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    found = raw.get("format_version") if isinstance(raw, dict) else None
    if found != version:
        raise ArtifactError(
            f"{path}: unknown format_version {found!r} (this llmtriage reads {version})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ArtifactError(f"{path}: invalid field '{field}': {first['msg']}") from exc


def read_manifest(directory: Path) -> Manifest:
    return read_json_manifest(
        directory, Manifest, version=FORMAT_VERSION, missing_hint="train one with `make train`"
    )


def read_verified_npz(directory: Path, ref: WeightsRef, *, what: str) -> dict[str, Array]:
    """Read ref.file's arrays as float32 after checking its sha256 against the manifest."""
    path = directory / ref.file
    if not path.is_file():
        raise ArtifactError(f"{what} {directory} lacks its weights file {ref.file}")
    actual = sha256_file(path)
    if actual != ref.sha256:
        raise ArtifactError(
            f"{path}: checksum mismatch (manifest {ref.sha256[:12]}…, "
            f"file {actual[:12]}…): the weights were changed after training"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{path}: unreadable weights: {exc}") from exc


def read_weights(directory: Path, manifest: Manifest) -> Weights:
    path = directory / manifest.weights.file
    arrays = read_verified_npz(directory, manifest.weights, what="artifact")
    weights = Weights(
        dense_coef=_need(arrays, "dense_coef", path),
        intercept=_need(arrays, "intercept", path),
        stats_mean=_need(arrays, "stats_mean", path),
        stats_scale=_need(arrays, "stats_scale", path),
        lexical_coef=arrays.get("lexical_coef"),
        idf=arrays.get("idf"),
        novelty_centroids=arrays.get("novelty_centroids"),
    )
    check_shapes(weights, manifest, str(path))
    return weights


def _need(arrays: dict[str, Array], key: str, path: Path) -> Array:
    if key not in arrays:
        raise ArtifactError(f"{path}: missing array '{key}'")
    return arrays[key]


def check_shapes(w: Weights, m: Manifest, where: str) -> None:
    """Refuse weights whose arrays do not have the shapes the manifest implies."""
    heads = len(m.label.heads)
    dense = m.embedder.dim + len(m.stats)
    if m.stat_products:
        dense += n_stat_products(len(m.stats))
    problems = []
    if w.dense_coef.shape != (heads, dense):
        problems.append(f"dense_coef {w.dense_coef.shape} != {(heads, dense)}")
    if w.intercept.shape != (heads,):
        problems.append(f"intercept {w.intercept.shape} != {(heads,)}")
    if w.stats_mean.shape != (len(m.stats),) or w.stats_scale.shape != (len(m.stats),):
        problems.append("stats_mean/stats_scale do not match the manifest's stats")
    if m.lexical is not None:
        n = m.lexical.n_buckets
        if w.lexical_coef is None or w.idf is None:
            problems.append("manifest declares lexical features but weights lack them")
        elif w.lexical_coef.shape != (heads, n) or w.idf.shape != (n,):
            problems.append(f"lexical arrays do not match n_buckets={n}")
    if m.novelty is not None:
        expected = (m.novelty.centroids, m.embedder.dim)
        got = None if w.novelty_centroids is None else w.novelty_centroids.shape
        if got != expected:
            problems.append(f"novelty_centroids {got} != {expected}")
    if problems:
        raise ArtifactError(f"{where}: weights do not fit the manifest: {'; '.join(problems)}")


def save_artifact(directory: Path, manifest: Manifest, weights: Weights) -> Manifest:
    """Write weights, then a manifest that carries their checksum; returns that manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = write_weights(directory / manifest.weights.file, weights)
    final = manifest.model_copy(
        update={"weights": manifest.weights.model_copy(update={"sha256": digest})}
    )
    save_manifest(directory, final)
    return final
