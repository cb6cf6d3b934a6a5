"""The decision log's schema, versioned: migration N takes a store from version N-1 to N.

Applied when a store opens (`pending`), each in its own transaction with its version
row, so a store is always at exactly one version. A store newer than this code is
refused (an old replica must not write rows it does not understand). PostgreSQL takes
an advisory lock first, so replicas starting together apply each migration once.

Add a migration by appending to MIGRATIONS; never edit one that has shipped.
SQL is written once for both dialects (SQLite's type affinity accepts these names).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtriage.errors import ConfigError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "decisions: one row per routed request",
        (
            """CREATE TABLE decisions (
                decision_id TEXT PRIMARY KEY,
                ts DOUBLE PRECISION NOT NULL,
                router TEXT NOT NULL,
                reason TEXT NOT NULL,
                policy_tier TEXT NOT NULL,
                routed_tier TEXT NOT NULL,
                tier TEXT NOT NULL,
                deployment TEXT NOT NULL,
                propensity DOUBLE PRECISION NOT NULL,
                score DOUBLE PRECISION,
                novelty DOUBLE PRECISION,
                rule TEXT,
                forbidden_tiers TEXT NOT NULL,
                model_version TEXT,
                cascade TEXT,
                fallbacks TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER NOT NULL,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                cost_usd DOUBLE PRECISION,
                latency_ms DOUBLE PRECISION,
                stream BOOLEAN NOT NULL,
                prompt_hash TEXT NOT NULL,
                prompt TEXT,
                client TEXT
            )""",
            "CREATE INDEX decisions_ts ON decisions (ts)",
        ),
    ),
    Migration(
        2,
        "verdicts: judgements of a decision, one per (decision_id, source)",
        (
            """CREATE TABLE verdicts (
                decision_id TEXT NOT NULL REFERENCES decisions (decision_id) ON DELETE CASCADE,
                source TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                label TEXT,
                comment TEXT,
                ts DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (decision_id, source)
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS llmtriage_schema "
    "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


def pending(current: int, where: str) -> tuple[Migration, ...]:
    """The migrations a store at `current` still needs; ConfigError when it is newer."""
    if current > LATEST:
        raise ConfigError(
            f"decision log {where} is at schema version {current}, newer than this "
            f"llmtriage's {LATEST}: upgrade llmtriage before pointing it at that store"
        )
    return tuple(m for m in MIGRATIONS if m.version > current)
