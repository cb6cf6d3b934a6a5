"""A fixed, content-addressed train/test split.

The side a prompt lands on depends only on a hash of (salt, prompt text), not on row
order, file layout or a random seed, so the held-out set of a benchmark never moves
between runs, machines or data refreshes, and duplicate prompts always land together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_SALT = "llmtriage-v1"


def stable_split(
    prompts: Iterable[str], *, test_fraction: float = 0.2, salt: str = DEFAULT_SALT
) -> list[str]:
    """Return "train" or "test" per prompt: sha256(salt + prompt) read as a number in [0, 1)."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    out: list[str] = []
    for prompt in prompts:
        digest = hashlib.sha256((salt + prompt).encode("utf-8")).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        out.append("test" if u < test_fraction else "train")
    return out
