"""Deterministic benchmark prompts: ~15-word questions and ~1k-token documents."""

from __future__ import annotations

import random

_SUBJECTS = (
    "the French revolution", "a binary search tree", "photosynthesis", "compound interest",
    "the Pythagorean theorem", "TCP congestion control", "a Python decorator", "mitochondria",
    "the Treaty of Versailles", "gradient descent", "a hash map", "plate tectonics",
)  # fmt: skip
_ASKS = (
    "Explain in simple terms how {} works and why it matters today",
    "Write a short summary of {} for a curious high school student please",
    "What are the three most common misconceptions about {} and why",
    "Give me one concrete everyday example that illustrates {} clearly",
)  # fmt: skip
_WORDS = (
    "system", "analysis", "model", "value", "result", "function", "data", "process", "method",
    "theory", "equation", "proof", "network", "memory", "energy", "market", "history", "language",
    "signal", "context", "structure", "integral", "matrix", "vector", "protocol", "algorithm",
    "compute", "derive", "estimate", "compare", "evaluate",
)  # fmt: skip


def short_prompts(n: int, seed: int = 0) -> list[str]:
    """~15-word single questions, all distinct."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ask = rng.choice(_ASKS).format(rng.choice(_SUBJECTS))
        out.append(f"{ask} (case {i})?")
    return out


def long_prompts(n: int, words: int = 750, seed: int = 1) -> list[str]:
    """~1k-token prompts (750 words ≈ 1,000 tokens, ~5,500 chars): context, then a question."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = " ".join(rng.choice(_WORDS) for _ in range(words - 20))
        question = short_prompts(1, seed=seed + i)[0]
        out.append(f"Context document {i}: {body}.\n\nQuestion: {question}")
    return out
