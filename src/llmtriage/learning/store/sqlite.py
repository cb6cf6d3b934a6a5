"""SQLite decision store: the embedded default, one file, WAL.

stdlib sqlite3 on one dedicated thread (one connection, used only there), so the event
loop never waits on the disk. WAL lets readers (export, replay) run beside the writer;
synchronous=NORMAL: a power cut may lose the last few batches, never corrupt the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from llmtriage.learning.migrations import VERSIONS_TABLE, pending
from llmtriage.learning.record import DecisionRecord, LoggedDecision, Verdict
from llmtriage.learning.store import sql
from llmtriage.learning.store.base import DecisionStoreError

T = TypeVar("T")
PH = "?"


class SqliteDecisionStore:
    backend = "sqlite"

    def __init__(self, path: Path, *, timeout_s: float = 5.0) -> None:
        self.path = path
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmtriage-sqlite")
        self._db: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteDecisionStore:
        store = cls(path)
        try:
            await store._run(store._connect)
        except BaseException:
            await store.aclose()
            raise
        return store

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        self._db = db
        db.execute(VERSIONS_TABLE)
        for migration in pending(self._version(), str(self.path)):
            db.execute("BEGIN IMMEDIATE")  # one writer: replicas on one file wait here
            try:
                if self._version() < migration.version:  # another process may have won
                    for statement in migration.statements:
                        db.execute(statement)
                    db.execute(
                        "INSERT INTO llmtriage_schema VALUES (?, ?, ?)",
                        (migration.version, migration.description, time.time()),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _version(self) -> int:
        row = self._conn().execute("SELECT MAX(version) FROM llmtriage_schema").fetchone()
        return int(row[0] or 0)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise DecisionStoreError(f"decision store {self.path} is closed")
        return self._db

    async def _run(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        except (sqlite3.Error, OSError) as exc:  # OSError: the file's folder cannot be made
            raise DecisionStoreError(f"decision store {self.path}: {exc}") from exc

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        def run() -> T:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return run

    async def write(self, records: Sequence[DecisionRecord]) -> None:
        rows = [sql.params(r) for r in records]
        statement = sql.insert_decisions(PH)
        await self._run(self._transaction(lambda db: db.executemany(statement, rows)))

    async def get(self, decision_id: str) -> DecisionRecord | None:
        statement = f"SELECT {', '.join(sql.COLUMNS)} FROM decisions WHERE decision_id = ?"

        def read() -> DecisionRecord | None:
            row = self._conn().execute(statement, (decision_id,)).fetchone()
            return None if row is None else sql.record_of(row)

        return await self._run(read)

    async def put_verdict(self, verdict: Verdict) -> bool:
        statement = sql.upsert_verdict(PH)
        args = sql.verdict_params(verdict)
        return await self._run(
            self._transaction(lambda db: db.execute(statement, args).rowcount > 0)
        )

    async def fetch(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[LoggedDecision]:
        args = tuple(t for t in (since, until) if t is not None)
        flags = {"since": since is not None, "until": until is not None}

        def read(db: sqlite3.Connection) -> list[LoggedDecision]:
            decisions = db.execute(sql.select_decisions(PH, **flags), args)
            records = [sql.record_of(r) for r in decisions]
            verdicts = db.execute(sql.select_verdicts(PH, **flags), args)
            return sql.join(records, [sql.verdict_of(r) for r in verdicts])

        # one transaction: decisions and verdicts from the same snapshot
        return await self._run(self._read_snapshot(read))

    def _read_snapshot(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        def run() -> T:
            db = self._conn()
            db.execute("BEGIN")
            try:
                return fn(db)
            finally:
                db.execute("COMMIT")

        return run

    async def prune(self, *, before: float | None, max_rows: int | None) -> int:
        statements = sql.prune_statements(
            before=PH if before is not None else None, max_rows=PH if max_rows is not None else None
        )
        bounds = {"before": before, "max_rows": max_rows}

        def run(db: sqlite3.Connection) -> int:
            removed = 0
            for statement, which, counts in statements:
                cursor = db.execute(statement, (bounds[which],))
                removed += cursor.rowcount if counts else 0
            return removed

        return await self._run(self._transaction(run))

    async def count(self) -> int:
        return await self._run(
            lambda: int(self._conn().execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
        )

    async def schema_version(self) -> int:
        return await self._run(self._version)

    async def ping(self) -> bool:
        try:
            await self._run(lambda: self._conn().execute("SELECT 1").fetchone())
        except DecisionStoreError:
            return False
        return True

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, close)
        finally:
            self._pool.shutdown(wait=False)
