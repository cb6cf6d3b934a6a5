"""Benchmark wrappers off, and one key per question across sources.

Benchmarks wrap their questions in fixed templates ("...\\nAnswer:", "答案：", a
"put your final answer in \\boxed{}" suffix). A scorer that sees them learns which
benchmark a prompt came from, which says nothing about a user's prompt; so training
strips them (serving never sees them). The same GSM8K and MMLU questions appear in
several sources with different wrappers and whitespace: `dedup_key` maps all of them to
one key, so a left-out question can be removed from every source before a fit.
"""

from __future__ import annotations

import re
import unicodedata

# (pattern, why) — each one a wrapper seen in the data, anchored at the start or end
_WRAPPERS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\s*(?:Answer|答案)\s*[:：]\s*$"),  # MMLU / C-Eval / CMMLU answer cue
    re.compile(r"^\s*Q:\s*"),  # logic-grid puzzles' "Q:" prefix
    re.compile(r"\s*After careful thought, put you(?:r)? final answer in \\boxed\{\.\.\.\}\.\s*$"),
    re.compile(r"\s*PS: for the maths use (?:a|an online) LaTeX editor\.?\s*$"),  # GPQA
)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def strip_wrappers(text: str) -> str:
    """The prompt without the benchmark's fixed prefix/suffix templates."""
    out = text
    for pattern in _WRAPPERS:
        out = pattern.sub("", out)
    return out.strip() or text


def dedup_key(text: str) -> str:
    """Case-, width-, punctuation- and whitespace-blind key of a question's text."""
    folded = unicodedata.normalize("NFKC", strip_wrappers(text)).casefold()
    return _NON_WORD.sub("", folded)
