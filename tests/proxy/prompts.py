"""Prompts the tiny artifact scores on either side of its 0.5 cut-point."""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

SHORT = "What is the capital of France?"
MATHS = (
    "Let f(x) = 3x^3 - 2x^2 + 7x - 5 and g(x) = (x^2 + 1)/(x - 2). Compute (f∘g)'(3), "
    "prove that the integral of f from 0 to 4 exceeds 100, and solve 2^x + 3^x = 5^x for x. "
) * 4
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def body(model: str, text: str, **extra: Any) -> dict[str, Any]:
    """A raw chat-completions body, for clients other than the SDK."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}
