"""The embedder protocol: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into fixed-size vectors.

    `kind` names the registry entry that can rebuild it; `fingerprint` is a
    sha256 of the weights so an artifact can refuse a different embedder.
    """

    @property
    def kind(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def l2_normalise(x: npt.NDArray[np.floating]) -> Vectors:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = np.asarray(x / norms, dtype=np.float32)
    return out


def sha256_files(paths: Iterable[Path]) -> str:
    """One digest over several files, in the given order, names included."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
