"""One exception tree for the whole package.

    LlmtriageError
    ├── ConfigError            bad settings or routing config (names the field)
    ├── ArtifactError          a model artifact that cannot be trusted or loaded
    │   └── EmbedderMismatch   artifact trained with another embedder
    ├── EmbedderUnavailable    optional embedding backend not installed / weights missing
    ├── InputError             a request the caller must fix (maps to 4xx in the web layer)
    ├── StoreUnavailable       the shared store (Redis) cannot be reached
    └── ProviderError          an upstream LLM call failed (see providers/errors.py)

Only the web layer maps these to HTTP status codes.
"""

from __future__ import annotations


class LlmtriageError(Exception):
    """Base of every error llmtriage raises on purpose."""


class ConfigError(LlmtriageError):
    """Configuration that fails validation; the message names the field."""


class ArtifactError(LlmtriageError):
    """A model artifact that is missing, malformed, tampered with or of an unknown format."""


class EmbedderMismatch(ArtifactError):
    """The artifact's classifier was trained on a different embedder than the one offered."""


class EmbedderUnavailable(LlmtriageError):
    """An optional embedding backend (e.g. sentence-transformers) is not installed."""


class InputError(LlmtriageError):
    """Input the caller must fix. `param` names the offending field when known."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class StoreUnavailable(LlmtriageError):
    """The shared store cannot be reached; callers fail open to local state."""


class ProviderError(LlmtriageError):
    """An upstream LLM provider call failed."""
