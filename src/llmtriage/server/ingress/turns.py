"""What the rules engine may see of a conversation's latest turn, as request headers.

Rules match headers (routing/rules.py), so the ingresses describe the latest turn (the
messages after the last assistant message) in two headers the routing config can name:

    x-llmtriage-turn        tool_result (the turn returns tool results) | text
    x-llmtriage-turn-size   short (at most SHORT_TURN_TOKENS, routing/tokens.py's
                            estimate) | long

An agent's tool-result turns are mostly mechanical ("here is the file, go on"): a config
can send the short ones to a cheap tier. The values are computed here; a client's own
headers of these names are dropped first, so they cannot be forged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llmtriage.providers.types import ChatMessage
from llmtriage.routing.tokens import estimate_message

TURN_HEADER = "x-llmtriage-turn"
TURN_SIZE_HEADER = "x-llmtriage-turn-size"
DERIVED = frozenset({TURN_HEADER, TURN_SIZE_HEADER})
SHORT_TURN_TOKENS = 1024


def latest_turn(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    turn: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role == "assistant":
            break
        if message.role in ("user", "tool"):
            turn.append(message)
    return turn


def turn_headers(messages: Sequence[ChatMessage]) -> dict[str, str]:
    turn = latest_turn(messages)
    kind = "tool_result" if any(m.role == "tool" for m in turn) else "text"
    size = sum(estimate_message(m) for m in turn)
    return {
        TURN_HEADER: kind,
        TURN_SIZE_HEADER: "short" if size <= SHORT_TURN_TOKENS else "long",
    }


def routing_headers(
    sent: Iterable[tuple[str, str]], messages: Sequence[ChatMessage]
) -> dict[str, str]:
    """The client's headers (names lower-case, as ASGI gives them) for the router, with
    the turn headers computed, and an `x-api-key` also as the bearer token the decision
    cache partitions tenants by."""
    headers = {name: value for name, value in sent if name not in DERIVED}
    key = headers.get("x-api-key")
    if key and "authorization" not in headers:
        headers["authorization"] = f"Bearer {key}"
    return headers | turn_headers(messages)
