"""Trivial scorers a learnt one has to beat off-distribution.

None of them is trained: each maps a prompt to a number, higher = send to the strong
model. The keyword heuristic follows the shape of LiteLLM's rule-based
`complexity_router` (weighted counts of code, reasoning and technical keywords, minus
"simple question" cues, plus length); the word lists here are the project's own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_CODE = (
    "function",
    "class",
    "def ",
    "return",
    "import",
    "algorithm",
    "implement",
    "code",
    "python",
    "javascript",
    "sql",
    "array",
    "list",
    "string",
    "debug",
    "error",
)
_REASONING = (
    "step by step",
    "prove",
    "explain why",
    "derive",
    "analyze",
    "analyse",
    "deduce",
    "infer",
    "compare",
    "evaluate",
    "calculate",
    "how many",
    "solve",
    "show that",
    "reason",
    "logical",
    "therefore",
)
_TECHNICAL = (
    "theorem",
    "equation",
    "integral",
    "probability",
    "matrix",
    "polynomial",
    "molecule",
    "protein",
    "quantum",
    "architecture",
    "distributed",
    "latency",
    "optimization",
    "neural",
    "statistic",
)
_SIMPLE = (
    "what is",
    "who is",
    "who was",
    "when did",
    "where is",
    "define",
    "name the",
    "which of the following",
    "true or false",
    "yes or no",
)
_DIGIT = re.compile(r"\d")


def _count(text: str, words: Sequence[str]) -> int:
    return sum(text.count(w) for w in words)


def keyword_score(text: str) -> float:
    low = text.lower()
    return (
        1.0 * _count(low, _CODE)
        + 1.5 * _count(low, _REASONING)
        + 1.0 * _count(low, _TECHNICAL)
        - 1.0 * _count(low, _SIMPLE)
        + 0.5 * math.log1p(len(text.split()))
    )


def length_score(text: str) -> float:
    return float(len(text))


def digit_share(text: str) -> float:
    return len(_DIGIT.findall(text)) / max(len(text), 1)


BASELINES: dict[str, Callable[[str], float]] = {
    "prompt length": length_score,
    "share of digits": digit_share,
    "keyword heuristic (LiteLLM-style)": keyword_score,
}


def baseline_scores(name: str, prompts: Sequence[str]) -> F64:
    fn = BASELINES[name]
    return np.array([fn(p) for p in prompts], dtype=np.float64)
