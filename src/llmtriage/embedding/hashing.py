"""Hashed bag-of-words embedder: no weights at all.

The in-memory implementation of the protocol for tests and tiny setups; it is
deterministic across processes (crc32, not Python's salted hash).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from llmtriage.embedding.base import Vectors, l2_normalise

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    kind = "hashing"

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim

    @property
    def fingerprint(self) -> str:
        return f"hashing-crc32-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = zlib.crc32(word.encode())
                out[row, h % self._dim] += 1.0 if h & 0x80000000 else -1.0
        return l2_normalise(out)
