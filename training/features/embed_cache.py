"""Cache of training-set embeddings keyed by embedder fingerprint and text hash.

Retraining after a change of labels or C must not re-embed 20k prompts; the
cache is one .npy per embedder plus an index of text hashes, under data/cache/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from llmtriage.embedding import Embedder

DEFAULT_DIR = Path("data/cache/embeddings")


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, embedder: Embedder, directory: Path = DEFAULT_DIR) -> None:
        self._embedder = embedder
        self._dir = directory / f"{embedder.kind}-{embedder.fingerprint[:16]}"
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, embedder.dim), dtype=np.float32)
        self._load()

    def _load(self) -> None:
        keys_file, vec_file = self._dir / "keys.txt", self._dir / "vectors.npy"
        if keys_file.is_file() and vec_file.is_file():
            keys = keys_file.read_text().split()
            vectors = np.load(vec_file, allow_pickle=False)
            if len(keys) == len(vectors):  # a torn write is ignored, not trusted
                self._index = {k: i for i, k in enumerate(keys)}
                self._vectors = vectors

    def _save(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._index, key=self._index.__getitem__)
        np.save(self._dir / "vectors.tmp.npy", self._vectors, allow_pickle=False)
        (self._dir / "keys.tmp").write_text("\n".join(keys))
        (self._dir / "vectors.tmp.npy").replace(self._dir / "vectors.npy")
        (self._dir / "keys.tmp").replace(self._dir / "keys.txt")

    def embed(
        self, texts: Sequence[str], *, batch: int = 512, desc: str = "embedding"
    ) -> npt.NDArray[np.float32]:
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._index))
        if missing:
            by_key = {k: t for k, t in zip(keys, texts, strict=True)}
            new = []
            for start in tqdm(range(0, len(missing), batch), desc=desc, unit="batch"):
                chunk = missing[start : start + batch]
                new.append(self._embedder.embed([by_key[k] for k in chunk]))
            base = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, *new])
            self._index.update({k: base + i for i, k in enumerate(missing)})
            self._save()
        return self._vectors[[self._index[k] for k in keys]]
