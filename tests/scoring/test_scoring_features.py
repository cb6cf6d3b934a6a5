"""Feature functions: the fast paths must equal straightforward reference versions."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from llmtriage.scoring.features import STAT_NAMES, LexicalSpec, lexical_counts, prompt_stats, tfidf


def _reference_counts(text: str, spec: LexicalSpec) -> dict[int, float]:
    """uint64 numpy arithmetic, the form the hashing was first written in."""
    tokens = re.findall(r"\w+|[^\w\s]", text.lower())
    hashes = np.array([zlib.crc32(t.encode()) for t in tokens], dtype=np.uint64)
    if spec.bigrams and len(tokens) > 1:
        with np.errstate(over="ignore"):
            pairs = hashes[:-1] * np.uint64(0x9E3779B97F4A7C15) + hashes[1:] + np.uint64(1)
        hashes = np.concatenate([hashes, pairs])
    ids, counts = np.unique(hashes % np.uint64(spec.n_buckets), return_counts=True)
    return {int(i): float(c) for i, c in zip(ids, counts, strict=True)}


@pytest.mark.parametrize(
    "text",
    ["", "hello", "Hello, hello world!", "Janet's ducks lay 16 eggs. " * 50, "日本語 text ünïcode"],
)
def test_lexical_counts_match_uint64_reference(text: str) -> None:
    spec = LexicalSpec(n_buckets=1 << 18)
    ids, counts = lexical_counts(text, spec)
    assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == _reference_counts(text, spec)


def test_tfidf_is_unit_norm_and_sublinear() -> None:
    idf = np.ones(8, dtype=np.float32)
    w = tfidf(np.array([1, 2]), np.array([1.0, np.e], dtype=np.float32), idf)
    assert np.linalg.norm(w) == pytest.approx(1.0)
    assert w[1] / w[0] == pytest.approx(2.0, rel=1e-5)  # 1 + log(e) = 2


def test_prompt_stats_count_what_they_say() -> None:
    stats = dict(zip(STAT_NAMES, prompt_stats("Tom has 3 apples. He buys 12 more?"), strict=True))
    assert stats["log_numbers"] == pytest.approx(np.log1p(2))
    assert stats["log_sentences"] == pytest.approx(np.log1p(2))
    assert stats["question_marks"] == pytest.approx(np.log1p(1))
    assert stats["log_words"] == pytest.approx(np.log1p(8))
    assert prompt_stats("").tolist() == [0.0] * len(STAT_NAMES)


def test_stat_products_are_pairwise_products_then_squares() -> None:
    from llmtriage.scoring.features import PRODUCT_CLIP, n_stat_products, stat_products

    n = len(STAT_NAMES)
    z = np.linspace(-3.5, 3.5, n, dtype=np.float32)
    out = stat_products(z)
    assert out.shape == (n_stat_products(n),) == (n * (n - 1) // 2 + n,)
    expected = [z[i] * z[j] for i in range(n) for j in range(i + 1, n)] + list(z * z)
    np.testing.assert_array_equal(out, np.array(expected, dtype=np.float32))
    # rows of a matrix give the same as one row at a time
    m = np.stack([z, -z, z / 2])
    np.testing.assert_array_equal(stat_products(m)[1], stat_products(-z))
    with pytest.raises(ValueError, match="statistics"):
        stat_products(z[:3])
    # an outlying statistic (400 question marks) counts as 4 standard deviations
    far = z.copy()
    far[0] = 70.0
    assert stat_products(far).max() <= PRODUCT_CLIP**2
    np.testing.assert_array_equal(stat_products(far), stat_products(np.where(far > 4, 4.0, far)))
