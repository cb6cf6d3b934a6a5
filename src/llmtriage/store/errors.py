"""Store errors.

`StoreUnavailable` lives in the package-wide tree (llmtriage.errors) because the web layer
maps it; it is re-exported here so store callers need one import.
"""

from __future__ import annotations

from llmtriage.errors import LlmtriageError, StoreUnavailable

__all__ = ["StoreUnavailable", "StoreUsageError"]


class StoreUsageError(LlmtriageError):
    """The store rejected an operation for the value it holds (wrong type, not a number).

    A caller bug, not an outage: `FailOpenStore` lets it through instead of failing open.
    """
