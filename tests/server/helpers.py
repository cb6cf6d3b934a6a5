"""Helpers shared by the server tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

from llmtriage.scoring.artifact import Weights, save_artifact
from llmtriage.scoring.features import STAT_NAMES
from llmtriage.scoring.manifest import (
    FORMAT_VERSION,
    EmbedderRef,
    LabelDef,
    Manifest,
    Thresholds,
    WeightsRef,
)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (ASGITransport does not) and talk to it in-process."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response has `status` and exactly the OpenAI error shape; returns `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def make_static_artifact(directory: Path) -> Path:
    """A scorer artifact with a tiny real model2vec static embedder (word-level vocabulary).

    Exercises the production import path (model2vec, tokenizers, safetensors) in
    milliseconds, without distilling a model.
    """
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from llmtriage.embedding.static import StaticEmbedder

    words = ["what", "is", "the", "of", "a", "to", "prove", "compute", "solve", "x", "y"]
    words += ["hello", "hi", "2", "+", "=", "?"]
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    vectors = np.random.default_rng(0).normal(size=(len(vocab), 32)).astype(np.float32)
    StaticModel(vectors, tokenizer).save_pretrained(str(directory / "embedder"))
    embedder = StaticEmbedder.load(directory / "embedder")
    n_stats = len(STAT_NAMES)
    weights = Weights(
        dense_coef=np.random.default_rng(1)
        .normal(size=(2, embedder.dim + n_stats))
        .astype(np.float32),
        intercept=np.zeros(2, dtype=np.float32),
        stats_mean=np.zeros(n_stats, dtype=np.float32),
        stats_scale=np.ones(n_stats, dtype=np.float32),
    )
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name="tiny-static",
        model_version="tiny-static-1",
        created_at=datetime.now(UTC).isoformat(),
        embedder=EmbedderRef(
            kind=embedder.kind, fingerprint=embedder.fingerprint, dim=embedder.dim, path="embedder"
        ),
        stats=list(STAT_NAMES),
        label=LabelDef(kind="gain", heads=["strong_good", "weak_good"]),
        weights=WeightsRef(sha256="pending"),
        thresholds=Thresholds(tiers=["cheap", "strong"], cutpoints=[0.5]),
    )
    save_artifact(directory, manifest, weights)
    return directory
