"""PostgreSQL decision store, for several replicas sharing one log (`postgresql://` URL).

psycopg 3's async API over one connection, serialised by a lock (the log's single
writer task does nearly all the work; feedback is rare). A broken connection is dropped
and the next call reconnects, so a restarted server is picked up without a restart of
ours; every call is bounded by `timeout_s`, and an outage surfaces as
`DecisionStoreError`, which the log turns into counted drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg

from llmtriage.learning.migrations import VERSIONS_TABLE, pending
from llmtriage.learning.record import DecisionRecord, LoggedDecision, Verdict
from llmtriage.learning.store import sql
from llmtriage.learning.store.base import DecisionStoreError

T = TypeVar("T")
PH = "%s"
MIGRATION_LOCK = 0x6C6C6D74  # pg_advisory_xact_lock key: replicas migrate one at a time
Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresDecisionStore:
    backend = "postgresql"

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, timeout_s: float = 2.0) -> PostgresDecisionStore:
        """Connect and migrate; DecisionStoreError when the server cannot be reached."""
        store = cls(url, timeout_s=timeout_s)
        await store._call(store._migrate)
        return store

    async def _connection(self) -> Conn:
        if self._closed:
            raise DecisionStoreError("decision store is closed")
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, connect_timeout=max(1, round(self._timeout_s)), autocommit=False
            )
        return self._conn

    async def _call(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._with_conn(fn), self._timeout_s)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                raise DecisionStoreError(f"decision store (postgresql): {_why(exc)}") from exc

    async def _with_conn(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        conn = await self._connection()
        async with conn.transaction():
            return await fn(conn)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(conn.close(), 1.0)

    async def _migrate(self, conn: Conn) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(VERSIONS_TABLE)
        for migration in pending(await _version(conn), "(postgresql)"):
            for statement in migration.statements:
                await conn.execute(statement.encode())
            await conn.execute(
                "INSERT INTO llmtriage_schema VALUES (%s, %s, %s)",
                (migration.version, migration.description, time.time()),
            )

    async def write(self, records: Sequence[DecisionRecord]) -> None:
        rows = [sql.params(r) for r in records]
        statement = sql.insert_decisions(PH)

        async def run(conn: Conn) -> None:
            async with conn.cursor() as cur:
                await cur.executemany(statement, rows)

        await self._call(run)

    async def get(self, decision_id: str) -> DecisionRecord | None:
        statement = f"SELECT {', '.join(sql.COLUMNS)} FROM decisions WHERE decision_id = %s"

        async def run(conn: Conn) -> DecisionRecord | None:
            row = await (await conn.execute(statement, (decision_id,))).fetchone()
            return None if row is None else sql.record_of(row)

        return await self._call(run)

    async def put_verdict(self, verdict: Verdict) -> bool:
        statement = sql.upsert_verdict(PH)

        async def run(conn: Conn) -> bool:
            cur = await conn.execute(statement, sql.verdict_params(verdict))
            return cur.rowcount > 0

        return await self._call(run)

    async def fetch(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[LoggedDecision]:
        args = tuple(t for t in (since, until) if t is not None)
        flags = {"since": since is not None, "until": until is not None}

        async def run(conn: Conn) -> list[LoggedDecision]:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute(sql.select_decisions(PH, **flags), args)
            records = [sql.record_of(r) for r in await cur.fetchall()]
            cur = await conn.execute(sql.select_verdicts(PH, **flags), args)
            return sql.join(records, [sql.verdict_of(r) for r in await cur.fetchall()])

        # a long read: bounded by more than one write's timeout
        async with self._lock:
            try:
                return await asyncio.wait_for(self._with_conn(run), max(60.0, self._timeout_s))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                raise DecisionStoreError(f"decision store (postgresql): {_why(exc)}") from exc

    async def prune(self, *, before: float | None, max_rows: int | None) -> int:
        statements = sql.prune_statements(
            before=PH if before is not None else None, max_rows=PH if max_rows is not None else None
        )
        bounds = {"before": before, "max_rows": max_rows}

        async def run(conn: Conn) -> int:
            removed = 0
            for statement, which, counts in statements:
                cur = await conn.execute(statement.encode(), (bounds[which],))
                removed += cur.rowcount if counts else 0
            return removed

        return await self._call(run)

    async def count(self) -> int:
        async def run(conn: Conn) -> int:
            row = await (await conn.execute("SELECT COUNT(*) FROM decisions")).fetchone()
            return int(row[0]) if row else 0

        return await self._call(run)

    async def schema_version(self) -> int:
        return await self._call(_version)

    async def ping(self) -> bool:
        try:
            await self._call(lambda conn: conn.execute("SELECT 1"))
        except DecisionStoreError:
            return False
        return True

    async def aclose(self) -> None:
        self._closed = True
        async with self._lock:
            await self._drop()


async def _version(conn: Conn) -> int:
    row = await (await conn.execute("SELECT MAX(version) FROM llmtriage_schema")).fetchone()
    return int(row[0] or 0) if row else 0


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
