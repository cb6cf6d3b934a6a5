"""The shadow tests' service: a cheap OpenAI-format tier, a strong Anthropic one and a
judge deployment on its own OpenAI-format fake, which reads the default judge prompt.

The traffic has two kinds of prompt: proofs full of quantities, which the base artifact
finds hard, and capital-city questions. On this traffic the cheap tier is the better one
at proofs: the judge prefers its answers there (the OpenAI fake's "Hello from …"), and
the strong tier's on the rest (the Anthropic fake's "Bonjour from …").
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.providers.wire_fakes import FakeOpenAI

JUDGE_KEY = "sk-judge-test-key"
ENV = {
    "TEST_OPENAI_KEY": "sk-openai-test-key",
    "TEST_ANTHROPIC_KEY": "sk-ant-test-key",
    "TEST_JUDGE_KEY": JUDGE_KEY,
}

ROUTING = """\
tiers:
  - name: cheap
    deployments:
      - {{name: mini, provider: openai, model: gpt-mini, base_url: "{openai}/v1",
          api_key_env: TEST_OPENAI_KEY, input_price_per_mtok: 0.15, output_price_per_mtok: 0.6,
          context_window: 128000}}
  - name: strong
    deployments:
      - {{name: claude, provider: anthropic, model: claude-x, base_url: "{anthropic}",
          api_key_env: TEST_ANTHROPIC_KEY, input_price_per_mtok: 3, output_price_per_mtok: 15,
          context_window: 200000}}
      - {{name: judge, provider: openai, model: judge-1, base_url: "{judge}/v1",
          api_key_env: TEST_JUDGE_KEY, input_price_per_mtok: 1, output_price_per_mtok: 1,
          context_window: 128000, timeouts: {{connect: 1, read: 5, total: 5}}}}
fallback: {{enabled: false}}
shadow: {shadow}
"""


def write_routing(folder: Path, *, openai: str, anthropic: str, judge: str, shadow: str) -> Path:
    path = folder / "routing.yaml"
    path.write_text(ROUTING.format(openai=openai, anthropic=anthropic, judge=judge, shadow=shadow))
    return path


def sections(prompt: str) -> tuple[str, str, str]:
    """(request, answer A, answer B) out of the default template."""
    _, _, rest = prompt.partition("[Request]\n")
    question, _, rest = rest.partition("\n\n[Answer A]\n")
    answer_a, _, rest = rest.partition("\n\n[Answer B]\n")
    answer_b, _, _ = rest.partition("\n\nReply with exactly one word")
    return question, answer_a, answer_b


class FakeJudge(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__(api_key=JUDGE_KEY)

    def reply_for(self, body: dict[str, Any]) -> str:  # type: ignore[override]
        question, answer_a, answer_b = sections(body["messages"][-1]["content"])
        better = "Hello from" if "Prove" in question else "Bonjour from"
        if better in answer_a:
            return "A"
        return "B" if better in answer_b else "tie"


COUNTRIES = [
    "France", "Spain", "Peru", "Kenya", "Japan", "Chile", "Norway", "Egypt", "Canada",
    "Ghana", "Nepal", "Cuba", "Iran", "Mali", "Oman", "Laos", "Fiji", "Chad", "Togo", "Iraq",
]  # fmt: skip
GEO = [
    "What is the capital of {c}?",
    "Which city is the capital of {c}?",
    "Name the capital city of {c}.",
    "Tell me the capital of {c}, please.",
]
PROOFS = [  # quantities, which the base artifact (trained on tests' _table) finds hard
    "Prove that {a} times {b} minus {c} is even when {d} divides {e}.",
    "Prove that there are infinitely many primes between {a} and {b} times {c}.",
    "Prove that {a} plus {b} plus {c} equals {d} modulo {e}.",
    "Prove that the square root of {a} is irrational, and likewise for {b} and {c}.",
]


def prompts(n: int, seed: int) -> list[tuple[str, str]]:
    """n (kind, prompt) pairs, alternating "geo" and "proof" (a geo question may repeat)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for i in range(n):
        if i % 2 == 0:
            text = rng.choice(GEO).format(c=rng.choice(COUNTRIES))
            out.append(("geo", text))
        else:
            numbers = {k: rng.randint(10, 999) for k in "abcde"}
            text = rng.choice(PROOFS).format(**numbers)
            out.append(("proof", text))
    return out
