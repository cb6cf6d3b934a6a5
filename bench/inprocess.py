"""In-process scoring latency: static embedder (the artifact), transformer, threadpool hop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.core import Context, SectionResult, percentiles_us
from bench.prompts import long_prompts, short_prompts
from llmtriage.embedding import Embedder
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import Weights
from llmtriage.scoring.features import n_stat_products
from llmtriage.scoring.manifest import EmbedderRef, Manifest, WeightsRef

COLUMNS = ["embedder", "prompts", "n", "p50_us", "p99_us", "mean_us"]
TRANSFORMER_COLUMNS = ["embedder", "torch_threads", "prompts", "n", "p50_us", "p99_us", "mean_us"]


def time_calls(
    fn: Callable[[str], object], texts: list[str], n: int, budget_s: float = 60.0
) -> list[float]:
    """Per-call wall time of fn over texts (cycled), after a warm-up; GC paused.

    Stops early after `budget_s` (slow embedders on a busy machine)."""
    for text in texts[: min(len(texts), 10)]:
        fn(text)
    samples: list[float] = []
    gc.disable()
    deadline = time.perf_counter() + budget_s
    try:
        for i in range(n):
            if time.perf_counter() > deadline:
                break
            text = texts[i % len(texts)]
            start = time.perf_counter()
            fn(text)
            samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return samples


def _workloads(ctx: Context) -> list[tuple[str, list[str], int]]:
    n_short, n_long = (300, 100) if ctx.quick else (3000, 500)
    return [
        ("short (~15 words)", short_prompts(500), n_short),
        ("long (~1k tokens)", long_prompts(50), n_long),
    ]


def static_section(ctx: Context) -> SectionResult:
    result = SectionResult("In-process `Scorer.score` (artifact at --model)", COLUMNS)
    scorer = Scorer.load(ctx.model)
    kind = scorer.manifest.embedder.kind
    for label, texts, n in _workloads(ctx):
        row = {"embedder": kind, "prompts": label, "n": n}
        result.rows.append(row | percentiles_us(time_calls(scorer.score, texts, n)))
    result.notes.append(
        f"model_version {scorer.model_version}; one prompt per call (no batching); "
        "includes embedding, prompt statistics, hashed n-grams and the linear heads."
    )
    if scorer.novelty_model is not None:
        # what the server calls: the score plus the prompt's novelty from the same embedding
        label, texts, n = _workloads(ctx)[0]
        row = {"embedder": f"{kind}, score + novelty (assess)", "prompts": label, "n": n}
        result.rows.append(row | percentiles_us(time_calls(scorer.assess, texts, n)))
    if scorer.manifest.stat_products:
        # what the second-order statistics cost: the same artifact with them dropped
        plain = _without_products(scorer)
        label, texts, n = _workloads(ctx)[0]
        row = {"embedder": f"{kind}, no stat products", "prompts": label, "n": n}
        result.rows.append(row | percentiles_us(time_calls(plain.score, texts, n)))
        result.notes.append(
            "'no stat products': the same weights without the second-order terms (scores "
            "differ); the short-prompt 'static' row minus this one is their cost."
        )
    return result


def _without_products(scorer: Scorer) -> Scorer:
    m, w = scorer.manifest, scorer._w
    n_dense = m.embedder.dim + len(m.stats)
    weights = replace(w, dense_coef=w.dense_coef[:, :n_dense])
    return Scorer(m.model_copy(update={"stat_products": False}), weights, scorer.embedder)


def transformer_section(ctx: Context) -> SectionResult:
    result = SectionResult(
        "In-process scoring with the transformer embedder (all-MiniLM-L6-v2)", TRANSFORMER_COLUMNS
    )
    from llmtriage.embedding.transformer import TransformerEmbedder
    from llmtriage.errors import EmbedderUnavailable

    try:
        embedder = TransformerEmbedder.load()
    except (EmbedderUnavailable, ImportError, OSError) as exc:  # optional extra absent
        result.skipped = f"transformer embedder unavailable: {exc}"
        return result
    import torch

    scorer = _same_head_for(Scorer.load(ctx.model).manifest, embedder)
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for label, texts, n in _workloads(ctx):
            n = max(20, n // 10)  # ~100x slower than static: fewer calls
            samples = time_calls(scorer.score, texts, n, budget_s=10 if ctx.quick else 30)
            row = {"embedder": "transformer", "torch_threads": threads, "prompts": label}
            result.rows.append(row | {"n": len(samples)} | percentiles_us(samples))
    torch.set_num_threads(default_threads)
    result.notes.append(
        f"torch {torch.__version__} on CPU (default {default_threads} intra-op threads, which "
        "spin against any other busy process). The model reads at most "
        f"{embedder._model.max_seq_length} tokens, so '~1k tokens' is cut there. The linear head "
        "is a random one of the artifact's shape, so the non-embedding cost matches the static row."
    )
    return result


def _same_head_for(manifest: Manifest, embedder: Embedder) -> Scorer:
    """A scorer with `embedder` and a random head shaped like the artifact's (timing only)."""
    rng = np.random.default_rng(0)
    n_stats = len(manifest.stats)
    n_dense = embedder.dim + n_stats
    if manifest.stat_products:
        n_dense += n_stat_products(n_stats)
    heads = len(manifest.label.heads)
    lexical = manifest.lexical
    weights = Weights(
        dense_coef=rng.normal(size=(heads, n_dense)).astype(np.float32) * 0.1,
        intercept=np.zeros(heads, dtype=np.float32),
        stats_mean=np.zeros(n_stats, dtype=np.float32),
        stats_scale=np.ones(n_stats, dtype=np.float32),
        lexical_coef=None if lexical is None else np.zeros((heads, lexical.n_buckets), np.float32),
        idf=None if lexical is None else np.ones(lexical.n_buckets, np.float32),
    )
    ref = EmbedderRef(kind=embedder.kind, fingerprint=embedder.fingerprint, dim=embedder.dim)
    bench_manifest = manifest.model_copy(
        update={
            "embedder": ref,
            "weights": WeightsRef(sha256="bench"),
            "created_at": datetime.now(UTC).isoformat(),
            "novelty": None,  # centroids live in the artifact's own embedding space
        }
    )
    return Scorer(bench_manifest, weights, embedder)


def threadpool_section(ctx: Context) -> SectionResult:
    """Why scoring runs inline in the async handler: the hop costs as much as the work."""
    result = SectionResult(
        "Inline vs threadpool scoring inside the event loop",
        ["call", "n", "p50_us", "p99_us", "mean_us"],
    )
    scorer = Scorer.load(ctx.model)
    texts = short_prompts(500)
    n = 300 if ctx.quick else 3000
    rows = asyncio.run(_threadpool_rows(scorer, texts, n))
    result.rows.extend(rows)
    result.notes.append(
        "`run_in_threadpool` is what FastAPI does for `def` endpoints; the hop adds a thread "
        "hand-off and a loop wake-up per request and cannot add CPU "
        "(the GIL is held while scoring)."
    )
    return result


async def _threadpool_rows(scorer: Scorer, texts: list[str], n: int) -> list[dict[str, Any]]:
    from starlette.concurrency import run_in_threadpool

    async def timed(call: Callable[[str], Any]) -> list[float]:
        samples = []
        for i in range(n + 50):
            start = time.perf_counter()
            await call(texts[i % len(texts)])
            if i >= 50:
                samples.append(time.perf_counter() - start)
        return samples

    async def inline(text: str) -> float:
        return scorer.score(text)

    async def hop(text: str) -> float:
        return await run_in_threadpool(scorer.score, text)

    async def empty_hop(text: str) -> None:
        await run_in_threadpool(len, text)

    rows = []
    for name, call in (
        ("inline score", inline),
        ("threadpool score", hop),
        ("threadpool no-op", empty_hop),
    ):
        rows.append({"call": name, "n": n} | percentiles_us(await timed(call)))
    return rows
