"""The verifier artifact: round trip, refusal rules, and the answer features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmtriage.cascade.artifact import (
    FORMAT_VERSION,
    VerifierManifest,
    VerifierWeights,
    save_verifier,
)
from llmtriage.cascade.features import (
    ANSWER_STAT_NAMES,
    answer_stats,
    arithmetic_claims,
    final_number,
)
from llmtriage.cascade.verifier import Verifier
from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.errors import ArtifactError, EmbedderMismatch
from llmtriage.scoring.features import LexicalSpec, lexical_counts, tfidf
from llmtriage.scoring.manifest import EmbedderRef, LexicalRef, WeightsRef

DIM, BUCKETS = 64, 128  # HashingEmbedder() defaults to 64, so load() can rebuild it
N_STATS = len(ANSWER_STAT_NAMES)


def _weights(seed: int = 0) -> VerifierWeights:
    rng = np.random.default_rng(seed)
    f = np.float32
    return VerifierWeights(
        dense_coef=rng.normal(size=2 * DIM + N_STATS).astype(f),
        intercept=np.array([0.3], dtype=f),
        stats_mean=rng.normal(size=N_STATS).astype(f),
        stats_scale=np.full(N_STATS, 2.0, dtype=f),
        lexical_coef=rng.normal(size=BUCKETS).astype(f),
        idf=np.ones(BUCKETS, dtype=f),
    )


def _manifest(**changes: object) -> VerifierManifest:
    emb = HashingEmbedder(DIM)
    fields: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "name": "verifier",
        "model_version": "verifier-test",
        "created_at": "2024-01-01T00:00:00+00:00",
        "cheap_model": "cheap",
        "label": "P(good)",
        "embedder": EmbedderRef(kind=emb.kind, fingerprint=emb.fingerprint, dim=DIM),
        "lexical": LexicalRef(n_buckets=BUCKETS),
        "stats": list(ANSWER_STAT_NAMES),
        "weights": WeightsRef(sha256="pending"),
    }
    fields.update(changes)
    return VerifierManifest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    save_verifier(tmp_path / "v", _manifest(), _weights())
    return tmp_path / "v"


def _by_hand(prompt: str, answer: str) -> float:
    w, emb = _weights(), HashingEmbedder(DIM)
    stats = (answer_stats(prompt, answer) - w.stats_mean) / w.stats_scale
    x = np.concatenate([emb.embed([prompt])[0], emb.embed([answer])[0], stats])
    ids, counts = lexical_counts(answer, LexicalSpec(BUCKETS, True))
    logit = float(
        w.dense_coef @ x + w.intercept[0] + w.lexical_coef[ids] @ tfidf(ids, counts, w.idf)
    )
    return 1.0 / (1.0 + np.exp(-logit))


def test_round_trip_gives_the_hand_computed_probability(artifact: Path) -> None:
    verifier = Verifier.load(artifact)  # rebuilds the hashing embedder from the registry
    pairs = [("What is 3 x 60?", "3 x 60 = 180.\n#### 180"), ("Name a colour.", "Blue.")]
    probs = verifier.probabilities([p for p, _ in pairs], [a for _, a in pairs])
    assert probs == pytest.approx([_by_hand(p, a) for p, a in pairs], abs=1e-5)
    assert verifier.probability(*pairs[1]) == pytest.approx(probs[1])
    assert verifier.probabilities([], []) == []


def test_tampered_weights_are_refused(artifact: Path) -> None:
    path = artifact / "weights.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte inside the compressed arrays
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        Verifier.load(artifact)


def test_weights_swapped_with_their_checksum_must_still_fit(tmp_path: Path) -> None:
    bad = _weights()
    bad = VerifierWeights(**{**bad.arrays(), "idf": np.ones(BUCKETS + 1, dtype=np.float32)})
    save_verifier(tmp_path / "v", _manifest(), bad)
    with pytest.raises(ArtifactError, match="idf"):
        Verifier.load(tmp_path / "v")


def test_other_embedder_is_refused(artifact: Path) -> None:
    with pytest.raises(EmbedderMismatch):
        Verifier.load(artifact, embedder=HashingEmbedder(32))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format_version": 99}, "format_version"),
        ({"stats": ["log_chars"]}, "other answer features"),
        ({"kind": "scorer"}, "kind"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_manifest_refusals(artifact: Path, edit: dict[str, object], message: str) -> None:
    path = artifact / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    with pytest.raises(ArtifactError, match=message):
        Verifier.load(artifact)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json"):
        Verifier.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "checked", "wrong"),
    [
        ("3 x 60 = 180 and <<180*3=540>>540", 2, 0),
        ("So 2 + 2 = 5.", 1, 1),
        ("$1,200 / 4 = $300", 1, 0),
        ("(3 + 4) * 2 = 14, then 10 / 3 = 3.33", 2, 0),
        ("x = 5 and y = 7", 0, 0),  # no arithmetic on the left
        ("__import__('os') = 1", 0, 0),  # never evaluated as code
    ],
)
def test_arithmetic_claims(text: str, checked: int, wrong: int) -> None:
    assert arithmetic_claims(text) == (checked, wrong)


def test_final_number_prefers_markers() -> None:
    assert final_number("She has 3 then 5.\n#### 8") == 8.0
    assert final_number("The answer is $1,234.50 in total, not 7") == 1234.5
    assert final_number("It costs 12 dollars.") == 12.0
    assert final_number("No numbers here.") is None


def test_answer_stats_shape_and_signals() -> None:
    stats = dict(
        zip(
            ANSWER_STAT_NAMES,
            answer_stats("Tom has 3 and 4.", "3 + 4 = 8. I'm not sure."),
            strict=True,
        )
    )
    assert len(stats) == N_STATS
    assert stats["wrong_equation_frac"] == 1.0 and stats["hedges"] > 0
    assert stats["prompt_numbers_used"] == 1.0 and stats["has_final_number"] == 1.0
