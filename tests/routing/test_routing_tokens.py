from __future__ import annotations

from llmtriage.providers.types import ChatRequest
from llmtriage.routing.tokens import estimate_request


def test_estimate_is_documented_formula() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "abcd" * 10},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "abcde"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                },
            ],
        }
    )
    # (4 + 10) + (4 + ceil(5 / 4) + 85)
    assert estimate_request(request) == 14 + 4 + 2 + 85
