from __future__ import annotations

from tests.console.harness import console_artifact, seeded
from tests.providers.upstreams import _anthropic_server, _openai_server, anthropic_fake, openai_fake

__all__ = [
    "_anthropic_server",
    "_openai_server",
    "anthropic_fake",
    "console_artifact",
    "openai_fake",
    "seeded",
]
