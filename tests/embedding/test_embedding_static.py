"""The fast static path must reproduce model2vec's own encode (training caches rely on it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmtriage.embedding.base import l2_normalise
from llmtriage.embedding.static import StaticEmbedder

DEFAULT = Path("models/embedders/minilm-l6-m2v-256")


@pytest.mark.skipif(not DEFAULT.is_dir(), reason="static embedder not built (run `make train`)")
def test_matches_model2vec_encode() -> None:
    from model2vec import StaticModel

    texts = [
        "What is the capital of France?",
        "",
        "Janet's ducks lay 16 eggs per day. " * 40,
        "x" * 9000,
        "日本語のテキストと English mixed",
        "[UNK] tokens and ŝtrange àccents",
    ]
    ours = StaticEmbedder.load(DEFAULT).embed(texts)
    reference = l2_normalise(np.asarray(StaticModel.from_pretrained(str(DEFAULT)).encode(texts)))
    assert ours.shape == (len(texts), 256)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert not ours[1].any()  # empty text: zero vector, as model2vec returns


def test_missing_weights_name_the_files(tmp_path: Path) -> None:
    from llmtriage.errors import EmbedderUnavailable

    with pytest.raises(EmbedderUnavailable, match=r"model.safetensors.*make train"):
        StaticEmbedder.load(tmp_path)
