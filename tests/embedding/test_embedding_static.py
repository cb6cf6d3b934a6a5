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
    # training tokenises on the thread pool, serving on the calling thread: same vectors
    parallel = StaticEmbedder.load(DEFAULT, parallel=True).embed(texts)
    np.testing.assert_array_equal(ours, parallel)


def test_serving_tokenises_on_the_calling_thread(tmp_path: Path) -> None:
    """The thread pool's spinning workers cost a server ~1 ms CPU a request (see the class)."""
    from tests.server.helpers import make_static_artifact

    make_static_artifact(tmp_path)
    calls: list[str] = []

    class Spy:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(self.inner, name)

    for parallel, expected in ((False, "encode"), (True, "encode_batch_fast")):
        embedder = StaticEmbedder.load(tmp_path / "embedder", parallel=parallel)
        embedder._tokenizer = Spy(embedder._tokenizer)
        calls.clear()
        embedder.embed(["prove x", "hi"])
        assert set(calls) == {expected}


def test_missing_weights_name_the_files(tmp_path: Path) -> None:
    from llmtriage.errors import EmbedderUnavailable

    with pytest.raises(EmbedderUnavailable, match=r"model.safetensors.*make train"):
        StaticEmbedder.load(tmp_path)
