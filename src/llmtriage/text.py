"""Which text of a request the classifier scores, and how long texts are cut.

Choice (documented in the README): the classifier scores the **last user turn**.
It was trained on single prompts, so that is the distribution it knows; the system
prompt is usually the same for every request of an app and would only blur the
signal, and earlier turns describe what was already answered. Whole-conversation
size is still visible to the rules engine through token counts.

Truncation: texts longer than `max_chars` keep their head and their tail (two
thirds / one third of the budget), because benchmark-style prompts put context
first and the actual question last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MAX_CHARS = 8000


def content_text(content: Any) -> str:
    """Text of an OpenAI message `content`: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "input_text")
        ]
        return "\n".join(t for t in texts if t)
    return ""


def scored_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user turn's text; empty when the conversation has no user turn."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def truncate(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Keep head and tail of an over-long text (see module docstring)."""
    if len(text) <= max_chars:
        return text
    head = (max_chars * 2) // 3
    tail = max_chars - head
    return text[:head] + "\n" + text[-tail:]


def valid_utf8(text: str) -> str:
    """Replace lone surrogates (legal in a Python str, not in UTF-8) with U+FFFD.

    JSON escapes like "\\ud800" produce them; tokenizers and hashing would crash on them.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
