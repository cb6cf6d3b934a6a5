"""Features of a (prompt, answer) pair for the verifier, shared by training and serving.

Besides the answer's generic text statistics (scoring.features.prompt_stats), a few
answer-specific ones: does it end on a final number, is that number a copy of one in
the prompt, do the arithmetic claims it writes ("3 x 60 = 180") hold, does it hedge,
does it repeat itself. The arithmetic check parses with `ast` and evaluates only
numbers and + - * /, never arbitrary code.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from llmtriage.cascade.signals import HEDGE_PHRASES, REFUSAL_PHRASES
from llmtriage.scoring.features import STAT_NAMES, prompt_stats

EXTRA_NAMES: tuple[str, ...] = (
    "log_len_ratio",
    "has_final_number",
    "final_is_fraction",
    "final_copied_from_prompt",
    "prompt_numbers_used",
    "hedges",
    "log_equations",
    "wrong_equation_frac",
    "ends_cleanly",
    "repeated_line_frac",
)
ANSWER_STAT_NAMES: tuple[str, ...] = tuple(f"answer_{n}" for n in STAT_NAMES) + EXTRA_NAMES

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_FINAL_MARKERS = re.compile(r"####|answer is|answer:|\\boxed", re.IGNORECASE)
# "<expr> = <number>": numbers joined by + - * / x × ÷ (with optional parentheses and $)
_EQUATION = re.compile(
    r"((?:[($]*\d[\d,]*(?:\.\d+)?\)*\s*[-+*/x×÷]\s*)+[($]*\d[\d,]*(?:\.\d+)?\)*)"
    r"\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)"
)
_OPS: dict[type[ast.AST], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}

Floats = npt.NDArray[np.float32]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    raise ValueError("not plain arithmetic")


def arithmetic_claims(text: str) -> tuple[int, int]:
    """(claims checked, claims wrong) for the "<expr> = <number>" spans of the text."""
    checked = wrong = 0
    for expr, result in _EQUATION.findall(text):
        source = expr.replace(",", "").replace("$", "").replace("×", "*").replace("÷", "/")
        source = source.replace("x", "*")
        value = _number(result)
        try:
            computed = _eval(ast.parse(source, mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
            continue
        if value is None:
            continue
        checked += 1
        # a claim rounded to the shown decimals (or to 1 %) still counts as right
        if abs(computed - value) > max(0.01 * abs(value), 0.006):
            wrong += 1
    return checked, wrong


def final_number(answer: str) -> float | None:
    """The number the answer ends on: after the last "####"/"answer is", else the last one."""
    markers = list(_FINAL_MARKERS.finditer(answer))
    tail = answer[markers[-1].end() :] if markers else answer[-200:]
    numbers = _NUMBER.findall(tail)
    if not numbers:
        return None
    return _number(numbers[0] if markers else numbers[-1])


def _count_phrases(text: str, phrases: Sequence[str]) -> int:
    lowered = text.lower().replace("\u2019", "'")
    return sum(lowered.count(p) for p in phrases)


def _repeated_lines(answer: str) -> float:
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    return 1.0 - len(set(lines)) / len(lines) if lines else 0.0


def answer_stats(prompt: str, answer: str) -> Floats:
    prompt_numbers = {_number(n) for n in _NUMBER.findall(prompt)} - {None}
    answer_numbers = {_number(n) for n in _NUMBER.findall(answer)} - {None}
    final = final_number(answer)
    checked, wrong = arithmetic_claims(answer)
    stripped = answer.rstrip()
    extra = [
        math.log1p(len(answer)) - math.log1p(len(prompt)),
        float(final is not None),
        float(final is not None and not float(final).is_integer()),
        float(final is not None and final in prompt_numbers),
        len(prompt_numbers & answer_numbers) / len(prompt_numbers) if prompt_numbers else 0.0,
        math.log1p(_count_phrases(answer, HEDGE_PHRASES + REFUSAL_PHRASES)),
        math.log1p(checked),
        wrong / checked if checked else 0.0,
        float(bool(stripped) and (stripped[-1] in ".!?)]}\"'`*" or stripped[-1].isdigit())),
        _repeated_lines(answer),
    ]
    return np.concatenate([prompt_stats(answer), np.asarray(extra, dtype=np.float32)])


def answer_stats_matrix(prompts: Sequence[str], answers: Sequence[str]) -> Floats:
    rows = [answer_stats(p, a) for p, a in zip(prompts, answers, strict=True)]
    return np.stack(rows) if rows else np.zeros((0, len(ANSWER_STAT_NAMES)), np.float32)
