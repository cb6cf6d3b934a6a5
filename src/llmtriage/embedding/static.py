"""Static (model2vec) embedder: a token→vector table, mean-pooled.

Distilled from all-MiniLM-L6-v2 (see training/distill.py); costs ~0.1 ms a prompt
on two CPU cores and needs neither torch nor a network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmtriage.embedding.base import Vectors, l2_normalise, sha256_files
from llmtriage.errors import EmbedderUnavailable

# Files whose bytes define the embedding; their digest is the fingerprint.
WEIGHT_FILES = ("model.safetensors", "tokenizer.json", "config.json")


class StaticEmbedder:
    kind = "static"

    def __init__(self, model: Any, *, fingerprint: str, max_tokens: int = 512) -> None:
        self._model = model
        self._fingerprint = fingerprint
        self._max_tokens = max_tokens
        self._dim = int(model.dim)

    @classmethod
    def load(cls, path: Path) -> StaticEmbedder:
        missing = [name for name in WEIGHT_FILES if not (path / name).is_file()]
        if missing:
            raise EmbedderUnavailable(
                f"static embedder at {path} lacks {', '.join(missing)}; "
                "run `make train` to build it"
            )
        from model2vec import StaticModel  # imported here: only this backend needs it

        model = StaticModel.from_pretrained(str(path))
        return cls(model, fingerprint=fingerprint_dir(path))

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            max_length=self._max_tokens,
            show_progress_bar=False,
            use_multiprocessing=False,
        )
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


def fingerprint_dir(path: Path) -> str:
    return sha256_files(path / name for name in WEIGHT_FILES)
