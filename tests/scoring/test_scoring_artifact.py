"""Artifact round trip and the loader's refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.errors import ArtifactError, EmbedderMismatch
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_manifest, read_weights
from llmtriage.text import scored_text, truncate
from tests.artifacts import make_tiny_artifact


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return make_tiny_artifact(tmp_path / "a")


def test_round_trip_scores_are_stable_and_ordered(artifact: Path) -> None:
    scorer = Scorer.load(artifact)
    again = Scorer.load(artifact)
    short, long_maths = "hi there", "Solve 3x^2 + 5x - 7 = 0 and integrate it over [0, 10]. " * 5
    assert scorer.score(short) == again.score(short)
    assert 0.0 <= scorer.score(short) < scorer.score(long_maths) <= 1.0
    assert scorer.tier(scorer.score(short)) == "cheap"
    assert scorer.tier(scorer.score(long_maths)) == "strong"
    assert scorer.score_batch([short, long_maths]) == [
        scorer.score(short),
        scorer.score(long_maths),
    ]


def test_weights_are_loaded_without_pickle(artifact: Path) -> None:
    manifest = read_manifest(artifact)
    weights = read_weights(artifact, manifest)
    assert weights.dense_coef.dtype == np.float32
    with np.load(artifact / "weights.npz", allow_pickle=False) as npz:
        assert set(npz.files) >= {"dense_coef", "intercept", "lexical_coef", "idf"}


def test_tampered_weights_are_refused(artifact: Path, tmp_path: Path) -> None:
    data = dict(np.load(artifact / "weights.npz", allow_pickle=False))
    data["intercept"] = data["intercept"] + 5.0
    np.savez_compressed(artifact / "weights.npz", **data)
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        Scorer.load(artifact)


def test_unknown_format_version_is_refused(artifact: Path) -> None:
    path = artifact / "manifest.json"
    raw = json.loads(path.read_text())
    raw["format_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="unknown format_version 99"):
        Scorer.load(artifact)


def test_invalid_manifest_names_the_field(artifact: Path) -> None:
    path = artifact / "manifest.json"
    raw = json.loads(path.read_text())
    raw["thresholds"]["cutpoints"] = [0.2, 0.1]
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="thresholds"):
        Scorer.load(artifact)


def test_missing_artifact_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="make train"):
        Scorer.load(tmp_path / "nothing")


def test_mismatched_embedder_is_refused(artifact: Path) -> None:
    with pytest.raises(EmbedderMismatch, match="trained with hashing embedder"):
        Scorer.load(artifact, embedder=HashingEmbedder(dim=32))


def test_weights_that_do_not_fit_the_manifest_are_refused(artifact: Path, tmp_path: Path) -> None:
    other = make_tiny_artifact(tmp_path / "b", n_buckets=512)
    shutil.copy(other / "weights.npz", artifact / "weights.npz")
    raw = json.loads((artifact / "manifest.json").read_text())
    raw["weights"]["sha256"] = json.loads((other / "manifest.json").read_text())["weights"][
        "sha256"
    ]
    (artifact / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="do not fit the manifest"):
        Scorer.load(artifact)


def test_scored_text_is_the_last_user_turn() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    assert scored_text(messages) == "second"
    assert scored_text([{"role": "system", "content": "x"}]) == ""


def test_truncation_keeps_head_and_tail() -> None:
    text = "A" * 9000 + "QUESTION?"
    cut = truncate(text, 3000)
    assert len(cut) <= 3001 and cut.startswith("A") and cut.endswith("QUESTION?")
    assert truncate("short", 3000) == "short"


def test_lone_surrogates_are_scored_not_crashed(artifact: Path) -> None:
    scorer = Scorer.load(artifact)
    assert scorer.score("caf\ud800 au lait") == scorer.score("caf\ufffd au lait")


def test_a_manifest_claiming_products_needs_their_weights(artifact: Path) -> None:
    # built in memory (no file to checksum): the constructor checks shapes itself
    from llmtriage.scoring.artifact import read_manifest, read_weights

    manifest = read_manifest(artifact)
    weights = read_weights(artifact, manifest)
    with pytest.raises(ArtifactError, match="do not fit the manifest"):
        Scorer(manifest.model_copy(update={"stat_products": True}), weights, HashingEmbedder())
