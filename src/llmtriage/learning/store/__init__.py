"""Decision stores behind one protocol (base.py), chosen by URL:

    memory://                    in-process (tests)
    sqlite:///relative/path.db   the embedded default (sqlite:////absolute/path.db)
    postgresql://user@host/db    several replicas sharing one log (psycopg 3, `serve` extra)
"""

from __future__ import annotations

from pathlib import Path

from llmtriage.errors import ConfigError
from llmtriage.learning.store.base import DecisionStore, DecisionStoreError
from llmtriage.learning.store.memory import MemoryDecisionStore

__all__ = [
    "DecisionStore",
    "DecisionStoreError",
    "MemoryDecisionStore",
    "check_url",
    "open_decision_store",
]

SCHEMES = ("memory://", "sqlite:///", "postgresql://", "postgres://")


def check_url(url: str) -> str:
    """The url if its scheme is known (validated at start-up; never echoes the url,
    which may hold a password)."""
    if not url.startswith(SCHEMES):
        raise ValueError("must start with memory://, sqlite:/// or postgresql://")
    if url.startswith("sqlite:///") and not url.removeprefix("sqlite:///"):
        raise ValueError("sqlite:/// needs a file path, e.g. sqlite:///decisions.db")
    return url


async def open_decision_store(url: str, *, timeout_s: float = 2.0) -> DecisionStore:
    """Open (and migrate) the store `url` names. DecisionStoreError: it cannot be reached;
    ConfigError: the url is not one of the schemes above."""
    try:
        check_url(url)
    except ValueError as exc:
        raise ConfigError(f"decision log url: {exc}") from None
    if url.startswith("memory://"):
        return MemoryDecisionStore()
    if url.startswith("sqlite:///"):
        # on demand, like the PostgreSQL store: a process opens the one its URL names
        from llmtriage.learning.store.sqlite import SqliteDecisionStore

        return await SqliteDecisionStore.open(Path(url.removeprefix("sqlite:///")))
    try:  # psycopg comes with the `serve` extra; a bare install may lack it
        from llmtriage.learning.store.postgres import PostgresDecisionStore
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "a postgresql:// decision log needs psycopg: pip install 'llmtriage[serve]'"
        ) from exc
    return await PostgresDecisionStore.open(url, timeout_s=timeout_s)
