"""Features the complexity classifier reads, computed the same way in training and serving.

Three groups, concatenated: the prompt embedding (semantic), hashed word n-grams
with tf-idf weights (lexical: n-grams beat the embedding on MMLU), and a few
prompt statistics (length, digits, maths, code). Hashing keeps the lexical part
vocabulary-free, so the artifact stores one idf array instead of a vocabulary.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"\w+|[^\w\s]")
_MATH = re.compile(r"[=+\-*/^<>%$]|\d")
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CODE_MARKERS = ("```", "def ", "class ", "return ", ";\n", "{\n", "#include", "=>")
_BIGRAM_MULT = 0x9E3779B97F4A7C15  # golden-ratio mix, keeps bigram hashes spread
_MASK64 = (1 << 64) - 1
_VECTORISE_ABOVE = 200  # tokens; below, plain ints and a Counter beat numpy's overheads

STAT_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "digit_frac",
    "upper_frac",
    "math_frac",
    "question_marks",
    "code_markers",
    "mean_word_len",
    "log_numbers",
    "log_sentences",
)

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


def pair_indices(n: int) -> tuple[Ids, Ids]:
    """Column pairs (i < j) whose products stat_products lists, in its order."""
    i, j = np.triu_indices(n, 1)
    return i.astype(np.int64), j.astype(np.int64)


_PAIR_I, _PAIR_J = pair_indices(len(STAT_NAMES))


def n_stat_products(n_stats: int) -> int:
    return n_stats * (n_stats - 1) // 2 + n_stats


# Standardised statistics are clipped to ±4 before multiplying: a prompt with 400
# question marks would otherwise give one product in the thousands and a score that is
# that product's alone (and, in training, a badly conditioned fit).
PRODUCT_CLIP = 4.0


def stat_products(z: Floats) -> Floats:
    """Pairwise products (i < j) and squares of standardised prompt statistics.

    A linear model over the raw statistics cannot say "many numbers matter when the
    prompt is a short word problem, not when it is a long document"; these second-order
    terms can, for 66 extra weights. `z` is one row (n_stats,) or a matrix (n, n_stats).
    """
    if z.shape[-1] != len(STAT_NAMES):
        raise ValueError(f"expected {len(STAT_NAMES)} statistics, got {z.shape[-1]}")
    c = np.clip(z, -PRODUCT_CLIP, PRODUCT_CLIP)
    return np.concatenate([c[..., _PAIR_I] * c[..., _PAIR_J], c * c], axis=-1)


@dataclass(frozen=True)
class LexicalSpec:
    n_buckets: int = 1 << 18
    bigrams: bool = True


def lexical_counts(text: str, spec: LexicalSpec) -> tuple[Ids, Floats]:
    """Bucket ids of the text's unigrams (and bigrams) with their counts (order unspecified).

    Two equal implementations (tested against each other): plain ints and a Counter
    for the few dozen n-grams of a typical prompt, numpy for long prompts.
    """
    tokens = _TOKEN.findall(text.lower())
    if not tokens:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    hashes = list(map(zlib.crc32, map(str.encode, tokens)))
    if len(hashes) > _VECTORISE_ABOVE:
        return _counts_numpy(hashes, spec)
    n = spec.n_buckets
    ids = [h % n for h in hashes]
    if spec.bigrams:
        # 64-bit wrap-around mix of neighbouring hashes (same as _counts_numpy's uint64)
        ids.extend(((a * _BIGRAM_MULT + b + 1) & _MASK64) % n for a, b in pairwise(hashes))
    counts = Counter(ids)
    return (
        np.fromiter(counts.keys(), dtype=np.int64, count=len(counts)),
        np.fromiter(counts.values(), dtype=np.float32, count=len(counts)),
    )


def _counts_numpy(hashes: list[int], spec: LexicalSpec) -> tuple[Ids, Floats]:
    h = np.array(hashes, dtype=np.uint64)
    if spec.bigrams:
        with np.errstate(over="ignore"):
            h = np.concatenate([h, h[:-1] * np.uint64(_BIGRAM_MULT) + h[1:] + np.uint64(1)])
    ids, counts = np.unique((h % np.uint64(spec.n_buckets)).astype(np.int64), return_counts=True)
    return ids, counts.astype(np.float32)


def tfidf(ids: Ids, counts: Floats, idf: Floats) -> Floats:
    """Sublinear tf × idf, L2-normalised (as scikit-learn's TfidfTransformer does)."""
    if ids.size == 0:
        return counts
    weights = (1.0 + np.log(counts)) * idf[ids]
    norm = float(np.linalg.norm(weights))
    return (weights / norm).astype(np.float32) if norm > 0 else weights.astype(np.float32)


def prompt_stats(text: str) -> Floats:
    # C-level str methods and short regexes only: per-character Python loops, or one
    # regex with many alternations, cost ~1 ms on a 6k-character prompt
    n_chars = len(text)
    denom = max(n_chars, 1)
    words = text.split()
    n_words = len(words)
    return np.array(
        [
            math.log1p(n_chars),
            math.log1p(n_words),
            math.log1p(text.count("\n")),
            len(_DIGIT.findall(text)) / denom,
            len(_UPPER.findall(text)) / denom,
            len(_MATH.findall(text)) / denom,
            math.log1p(text.count("?")),
            math.log1p(sum(map(text.count, _CODE_MARKERS))),
            sum(map(len, words)) / n_words if n_words else 0.0,
            # word problems get harder with every quantity and every step they state
            math.log1p(len(_NUMBER.findall(text))),
            math.log1p(len(_SENTENCE_END.findall(text))),
        ],
        dtype=np.float32,
    )


def stats_matrix(texts: Sequence[str]) -> Floats:
    return (
        np.stack([prompt_stats(t) for t in texts])
        if texts
        else np.zeros((0, len(STAT_NAMES)), np.float32)
    )
