"""Static (model2vec) embedder: a token→vector table, mean-pooled.

Distilled from all-MiniLM-L6-v2 (see training/features/distill.py); needs neither torch nor a
network. model2vec loads the tokenizer and table; the per-call path below reproduces
`StaticModel.encode` bit for bit (same truncation, unk removal, float16 mean and
normalisation) without its batching wrapper, which cost more than the embedding
itself for one prompt (measured 323 µs vs 127 µs on a short prompt).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmtriage.embedding.base import Vectors, sha256_files
from llmtriage.errors import EmbedderUnavailable
from llmtriage.text import valid_utf8

# Files whose bytes define the embedding; their digest is the fingerprint.
WEIGHT_FILES = ("model.safetensors", "tokenizer.json", "config.json")


class StaticEmbedder:
    """`parallel=True` tokenises batches on the tokenizers library's thread pool: right
    for training (thousands of prompts), wrong for a server. The pool's threads spin
    while waiting for work and wake on other cores; in the proxy benchmark that cost
    ~1 ms of CPU per request and, with another process busy on the second core,
    turned a 2 ms p50 into 200 ms. Serving therefore tokenises on the calling thread.
    """

    kind = "static"

    def __init__(self, model: Any, *, fingerprint: str, parallel: bool = False) -> None:
        self._fingerprint = fingerprint
        self._parallel = parallel
        self._tokenizer = model.tokenizer  # truncates at model.max_length tokens
        # float16 arithmetic is emulated in numpy and slow: keep a float32 copy and round
        # the mean back to float16, which is what model2vec's float16 mean returns
        self._table = np.asarray(model.embedding, dtype=np.float32)
        self._unk = model.unk_token_id
        # model2vec cuts the raw string before tokenising: max_length × median token length
        self._max_chars = int(model.max_length) * int(model.median_token_length)
        self._normalise = bool(model.normalize)
        self._dim = int(model.dim)

    @classmethod
    def load(cls, path: Path, *, parallel: bool = False) -> StaticEmbedder:
        missing = [name for name in WEIGHT_FILES if not (path / name).is_file()]
        if missing:
            raise EmbedderUnavailable(
                f"static embedder at {path} lacks {', '.join(missing)}; "
                "run `make train` to build it"
            )
        from model2vec import StaticModel  # imported here: only this backend needs it

        model = StaticModel.from_pretrained(str(path))
        return cls(model, fingerprint=fingerprint_dir(path), parallel=parallel)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        cut = [valid_utf8(t[: self._max_chars]) for t in texts]
        tokenizer = self._tokenizer
        if self._parallel:
            encodings = tokenizer.encode_batch_fast(cut, add_special_tokens=False)
        else:
            encodings = [tokenizer.encode(text, add_special_tokens=False) for text in cut]
        out = np.zeros((len(cut), self._dim), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids = np.array(encoding.ids, dtype=np.intp)
            if self._unk is not None:
                ids = ids[ids != self._unk]
            if ids.size:
                out[row] = self._pool(ids)
        return out

    def _pool(self, ids: npt.NDArray[np.intp]) -> Vectors:
        # The float16 round trips reproduce model2vec's float16 mean and normalisation,
        # so vectors match the ones cached at training time.
        vec = (self._table[ids].sum(axis=0) / ids.size).astype(np.float16).astype(np.float32)
        if self._normalise:
            vec = (vec / (np.sqrt(vec @ vec) + 1e-32)).astype(np.float16).astype(np.float32)
        norm = float(np.sqrt(vec @ vec))
        out: Vectors = vec / norm if norm > 0 else vec
        return out


def fingerprint_dir(path: Path) -> str:
    return sha256_files(path / name for name in WEIGHT_FILES)
