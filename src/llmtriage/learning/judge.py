"""The pairwise judge of shadow comparisons: which of two answers to one request is better.

The judge deployment (routing config `shadow.judge`) is asked twice, with the two answers
in both orders, to cancel its position bias. Each reply must be exactly one of `A`, `B`
or `tie` (case-insensitive; a trailing full stop, a `Verdict:` prefix and text on the
lines before the last are allowed); any other reply counts as a failed judgement, never
as a guess. The two orders combine into a preference for the routed answer:

    both orders agree          that preference (win 1.0, tie 0.5, loss 0.0)
    the orders disagree        tie (0.5 each)

and become two verdicts of the routed decision (shadow.py): "shadow:<routed deployment>"
with the routed answer's score and "shadow:<shadow deployment>" with 1 minus it, so
`llmtriage outcomes export` gets a score for both deployments' columns.

The prompt is one user message, the default template below; `shadow.template` names a
UTF-8 text file to use instead, which must hold each of the placeholders `{question}`
(the conversation, one `role: text` block per message), `{answer_a}` and `{answer_b}`.
They are replaced in one pass, so an answer that itself contains a placeholder is left
as it is; no other braces are special.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from llmtriage.errors import ConfigError, LlmtriageError
from llmtriage.execution.deployments import ResolvedDeployment
from llmtriage.providers.types import ChatMessage, ChatRequest, ChatResponse
from llmtriage.routing.cost import cost_usd

DEFAULT_TEMPLATE = """\
You are an impartial judge. Two assistants answered the same request. Decide which \
answer is better: correct first, then complete and helpful. Ignore length, style and \
the order in which the answers are shown.

[Request]
{question}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Reply with exactly one word: A if answer A is better, B if answer B is better, or tie \
if they are equally good or equally bad.
"""
PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_VERDICT = re.compile(r"^(?:verdict\s*:\s*)?(a|b|tie)\.?$", re.IGNORECASE)


class Preference(StrEnum):
    A = "A"
    B = "B"
    TIE = "tie"


class JudgeError(LlmtriageError):
    """The judge could not be asked, or did not answer A, B or tie; `cost`: what the
    calls that did answer cost (the budget counts it)."""

    def __init__(self, message: str, cost: Decimal = Decimal(0)) -> None:
        super().__init__(message)
        self.cost = cost


def load_template(path: Path | None) -> str:
    """The template at `path` (None: the default), checked for its placeholders."""
    if path is None:
        return DEFAULT_TEMPLATE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"shadow.template: cannot read {path}: {exc}") from exc
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise ConfigError(f"shadow.template {path}: missing {', '.join(missing)}")
    return text


def render(template: str, question: str, answer_a: str, answer_b: str) -> str:
    values = dict(zip(PLACEHOLDERS, (question, answer_a, answer_b), strict=True))
    return _PLACEHOLDER.sub(lambda m: values[m.group(0)], template)


def parse_verdict(reply: str) -> Preference | None:
    """The reply's verdict (its last non-empty line), or None when it is not one."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    match = _VERDICT.match(lines[-1].strip("*` ")) if lines else None
    if match is None:
        return None
    word = match.group(1).lower()
    return Preference.TIE if word == "tie" else Preference(word.upper())


def routed_score(routed_first: Preference, shadow_first: Preference) -> float:
    """The routed answer's score from both orders: in `routed_first` it was A, in
    `shadow_first` it was B. Disagreeing orders are a tie."""
    first = {Preference.A: 1.0, Preference.TIE: 0.5, Preference.B: 0.0}[routed_first]
    second = {Preference.B: 1.0, Preference.TIE: 0.5, Preference.A: 0.0}[shadow_first]
    return first if first == second else 0.5


def conversation_text(request: ChatRequest) -> str:
    return "\n\n".join(f"{m.role}: {_content(m)}" for m in request.messages)


def answer_text(response: ChatResponse) -> str:
    """Choice 0's content, with its tool calls (as JSON) when it made any."""
    choice = response.choices[0] if response.choices else {}
    message = choice.get("message") or {}
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    calls = message.get("tool_calls")
    if calls:
        text = (text + "\n" if text else "") + "tool calls: " + json.dumps(calls)
    return text


def _content(message: ChatMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return json.dumps(message.tool_calls) if message.tool_calls else ""


@dataclass(frozen=True)
class Judgement:
    routed: float  # the routed answer's score; the shadow answer's is 1 - routed
    orders: tuple[Preference, Preference]  # (routed answer as A, shadow answer as A)
    cost: Decimal  # both judge calls


class Judge:
    def __init__(
        self, deployment: ResolvedDeployment, template: str = DEFAULT_TEMPLATE, max_tokens: int = 16
    ) -> None:
        self.deployment = deployment
        self.template = template
        self.max_tokens = max_tokens

    async def compare(self, request: ChatRequest, routed: str, shadow: str) -> Judgement:
        """Both orders at once. JudgeError: either call failed or was not a verdict."""
        question = conversation_text(request)
        asked = await asyncio.gather(
            self._ask(render(self.template, question, routed, shadow)),
            self._ask(render(self.template, question, shadow, routed)),
        )
        cost = sum((c for _, c in asked), Decimal(0))
        first, second = (verdict for verdict, _ in asked)
        if first is None or second is None:
            raise JudgeError(f"judge {self.deployment.name}: the reply is not A, B or tie", cost)
        return Judgement(routed_score(first, second), (first, second), cost)

    async def _ask(self, prompt: str) -> tuple[Preference | None, Decimal]:
        target = self.deployment
        request = ChatRequest(
            model=target.config.model,
            messages=[ChatMessage(role="user", content=prompt)],
            temperature=0.0,
            max_tokens=self.max_tokens,
        )
        try:
            response = await target.require_provider().complete(request, timeout=target.timeouts)
        except LlmtriageError as exc:
            raise JudgeError(f"judge {target.name}: {exc}") from exc
        cost = cost_usd(response.usage, target.config) if response.usage else Decimal(0)
        return parse_verdict(answer_text(response)), cost


__all__ = [
    "DEFAULT_TEMPLATE",
    "Judge",
    "JudgeError",
    "Judgement",
    "Preference",
    "answer_text",
    "conversation_text",
    "load_template",
    "parse_verdict",
    "render",
    "routed_score",
]
