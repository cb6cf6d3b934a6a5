"""Embedders behind one protocol, rebuilt from an artifact through an explicit registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llmtriage.embedding.base import Embedder
from llmtriage.errors import ArtifactError

# Each loader imports its backend when called: the backends' libraries are optional
# (model2vec for static, sentence-transformers with torch for transformer, a 'train'
# extra), so a serving install loads only the one its artifact names.
# kind -> loader(path or None). The path is the artifact's embedder folder (static)
# or None for weights that come from an installed package (transformer).
EmbedderLoader = Callable[[Path | None], Embedder]


def _static(path: Path | None) -> Embedder:
    from llmtriage.embedding.static import StaticEmbedder  # optional: model2vec

    if path is None:
        raise ArtifactError("a static embedder needs its folder inside the artifact")
    return StaticEmbedder.load(path)


def _transformer(path: Path | None) -> Embedder:
    from llmtriage.embedding.transformer import TransformerEmbedder  # optional: torch

    return TransformerEmbedder.load(path)


def _hashing(path: Path | None) -> Embedder:
    from llmtriage.embedding.hashing import HashingEmbedder  # tests only: loaded on demand

    return HashingEmbedder()


EMBEDDERS: dict[str, EmbedderLoader] = {
    "static": _static,
    "transformer": _transformer,
    "hashing": _hashing,
}

__all__ = ["EMBEDDERS", "Embedder", "EmbedderLoader"]
