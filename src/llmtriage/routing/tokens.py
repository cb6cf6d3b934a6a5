"""A cheap, documented token estimate for rules and context-window checks.

    tokens ≈ Σ over messages (ceil(chars / 4) + 4) + 85 per image + ceil(tool-schema chars / 4)

Four characters per token is OpenAI's rule of thumb for English with cl100k/o200k
tokenizers; it overcounts code a little and undercounts CJK text. It costs one
pass over the characters and needs no vocabulary files, where a real BPE would
cost far more per request; rules only need orders of magnitude ("over 8k
tokens"). 4 tokens per message frame the role; 85 is OpenAI's price of a
low-detail image.
"""

from __future__ import annotations

import json
import math

from llmtriage.providers.types import ChatMessage, ChatRequest
from llmtriage.text import content_text

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
PER_IMAGE = 85


def estimate_text(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_message(message: ChatMessage) -> int:
    tokens = PER_MESSAGE + estimate_text(content_text(message.content))
    tokens += PER_IMAGE * count_images(message)
    for call in message.tool_calls or []:
        tokens += estimate_text(json.dumps(call.get("function", {})))
    return tokens


def estimate_request(request: ChatRequest) -> int:
    tokens = sum(estimate_message(m) for m in request.messages)
    if request.tools:
        tokens += estimate_text(json.dumps(request.tools))
    return tokens


def count_images(message: ChatMessage) -> int:
    if not isinstance(message.content, list):
        return 0
    return sum(1 for part in message.content if part.get("type") == "image_url")
