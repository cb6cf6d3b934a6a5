"""What each benchmark prompt costs on each model: list prices × counted tokens.

Prices, USD per million tokens (list prices when the benchmark answers were made):
- gpt-4-1106-preview (GPT-4 Turbo): $10 input / $30 output — OpenAI pricing page as
  announced at DevDay, 6 Nov 2023 (openai.com/pricing).
- Mixtral-8x7B-Instruct-v0.1: $0.60 input / $0.60 output — Together AI serverless list
  price at Mixtral's launch, Dec 2023 (together.ai/pricing). Mistral's own API charged
  more for it ("mistral-small", €0.6 / €1.8), other hosts less; the ratio to GPT-4 (≈ 17×
  on input, 50× on output) is what decides the savings, not the exact figure.

Tokens: counted with the MiniLM WordPiece tokenizer shipped with the static embedder
(models/embedders/minilm-l6-m2v-256/tokenizer.json, read offline by `tokenizers`). It
only approximates the billing tokenizers (GPT-4's cl100k BPE, Mixtral's 32k
SentencePiece): on English prose the counts agree within ~10–20 %, and both models'
tokens are counted the same way, so ratios between strategies are barely affected.
Counted per benchmark:
- GSM8K: the question in, each model's own recorded answer out. Any few-shot template
  the benchmark wrapped around the question is not in the data and is not counted.
- MT-Bench: two turns; turn 2's input repeats turn 1's question and the model's own
  turn-1 answer (chat history), as a chat API bills it.
- MMLU: the question with its choices in, 1 output token (the data records only whether
  the single-letter answer was right, not the text).
Message framing (≈ 4 tokens a message) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from llmtriage.cascade.executor import Price
from llmtriage_train.data.loaders import STRONG, WEAK, load_gsm8k_responses, load_mt_bench_answers
from llmtriage_train.data.routing_sets import RoutingSet
from llmtriage_train.features.distill import DEFAULT_DIR as EMBEDDER_DIR
from llmtriage_train.verifier.train import mt_bench_questions

F64 = npt.NDArray[np.float64]

PRICES: dict[str, Price] = {
    STRONG: Price(input_per_mtok=Decimal("10"), output_per_mtok=Decimal("30")),
    WEAK: Price(input_per_mtok=Decimal("0.60"), output_per_mtok=Decimal("0.60")),
}
MMLU_OUTPUT_TOKENS = 1
TOKENIZER_NAME = "MiniLM WordPiece (static embedder's tokenizer.json)"


class CountsTokens(Protocol):
    def count(self, text: str) -> int: ...


class TokenCounter:
    def __init__(self, tokenizer_json: Path) -> None:
        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()  # the embedder cuts at 512 tokens; billing does not
        self._tok.no_padding()

    @classmethod
    def default(cls) -> TokenCounter:
        return cls(EMBEDDER_DIR / "tokenizer.json")

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)


def cost_usd(model: str, tokens_in: F64, tokens_out: F64) -> F64:
    """USD for token counts (arrays, one entry per request)."""
    price = PRICES[model]
    per_token_in = float(price.input_per_mtok) / 1e6
    per_token_out = float(price.output_per_mtok) / 1e6
    return tokens_in * per_token_in + tokens_out * per_token_out


def conversation_tokens(turns: Sequence[tuple[str, str]], counter: CountsTokens) -> tuple[int, int]:
    """(input, output) tokens of a chat: each turn resends all earlier turns as history."""
    tokens_in = tokens_out = history = 0
    for user, answer in turns:
        asked, answered = counter.count(user), counter.count(answer)
        tokens_in += history + asked
        tokens_out += answered
        history += asked + answered
    return tokens_in, tokens_out


@dataclass(frozen=True)
class PromptCosts:
    """USD per prompt on each model, row-aligned with a RoutingSet."""

    cheap: F64
    strong: F64
    tokens_in: F64  # of the cheap model's conversation (same question for both on 1 turn)
    tokens_out_cheap: F64
    tokens_out_strong: F64


def _costs(rows: Sequence[Mapping[str, tuple[int, int]]]) -> PromptCosts:
    cheap_in = np.array([r[WEAK][0] for r in rows], dtype=np.float64)
    cheap_out = np.array([r[WEAK][1] for r in rows], dtype=np.float64)
    strong_in = np.array([r[STRONG][0] for r in rows], dtype=np.float64)
    strong_out = np.array([r[STRONG][1] for r in rows], dtype=np.float64)
    return PromptCosts(
        cheap=cost_usd(WEAK, cheap_in, cheap_out),
        strong=cost_usd(STRONG, strong_in, strong_out),
        tokens_in=cheap_in,
        tokens_out_cheap=cheap_out,
        tokens_out_strong=strong_out,
    )


def gsm8k_costs(rs: RoutingSet, root: Path, counter: CountsTokens) -> PromptCosts:
    answers = {(r["prompt"], r["model"]): r["response"] for r in load_gsm8k_responses(root)}
    return _costs(
        [
            {m: conversation_tokens([(p, answers[(p, m)])], counter) for m in (WEAK, STRONG)}
            for p in rs.prompts
        ]
    )


def mt_bench_costs(rs: RoutingSet, root: Path, counter: CountsTokens) -> PromptCosts:
    questions = mt_bench_questions(root)
    qid_of = {turns[0]: qid for qid, turns in questions.items()}
    answers = {
        (a["question_id"], a["model"], a["turn"]): a["answer"] or ""
        for a in load_mt_bench_answers(root)
    }
    rows = []
    for prompt in rs.prompts:
        qid = qid_of[prompt]
        rows.append(
            {
                m: conversation_tokens(
                    [(q, answers.get((qid, m, t + 1), "")) for t, q in enumerate(questions[qid])],
                    counter,
                )
                for m in (WEAK, STRONG)
            }
        )
    return _costs(rows)


def mmlu_costs(rs: RoutingSet, root: Path, counter: CountsTokens) -> PromptCosts:
    rows = []
    for prompt in rs.prompts:
        n = counter.count(prompt)
        rows.append({m: (n, MMLU_OUTPUT_TOKENS) for m in (WEAK, STRONG)})
    return _costs(rows)


COSTS = {"gsm8k": gsm8k_costs, "mt_bench": mt_bench_costs, "mmlu": mmlu_costs}
