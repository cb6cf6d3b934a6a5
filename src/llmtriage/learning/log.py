"""The decision log: `submit` from the request path, a background task writes.

`submit` never waits: the record goes into a bounded asyncio queue, or, when the queue
is full, is dropped and counted (`llmtriage_decision_log_dropped_total{reason="queue_full"}`).
The writer takes what is queued, up to batch_size rows, at most every flush_s, and
writes them in one transaction. A store that fails (down, timed out) costs that batch,
counted under reason="store_error"; a store that could not be opened at start is
retried every `reopen_s` while its rows are counted as dropped. Requests never see any of it.
Retention runs on the same task, every prune_every_s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge

from llmtriage.learning.record import DecisionRecord, Verdict
from llmtriage.learning.settings import DecisionLogSettings
from llmtriage.learning.store import DecisionStore, DecisionStoreError, open_decision_store

log = logging.getLogger(__name__)
Opener = Callable[[], Awaitable[DecisionStore]]


class LogMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.dropped = Counter(
            "llmtriage_decision_log_dropped",
            "Decision-log rows dropped: the queue was full, or the store failed.",
            ("reason",),
            registry=registry,
        )
        self.written = Counter(
            "llmtriage_decision_log_written", "Decision-log rows written.", registry=registry
        )
        self.queued = Gauge(
            "llmtriage_decision_log_queue_depth", "Rows waiting to be written.", registry=registry
        )


class DecisionLog:
    def __init__(
        self,
        opener: Opener,
        *,
        hash_key: bytes,
        log_prompts: bool = False,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_s: float = 0.2,
        retention_s: float | None = None,
        retention_rows: int | None = None,
        prune_every_s: float = 600.0,
        reopen_s: float = 5.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hash_key = hash_key
        self.log_prompts = log_prompts
        self.store: DecisionStore | None = None
        self._opener = opener
        self._queue: asyncio.Queue[DecisionRecord] = asyncio.Queue(maxsize=queue_size)
        self._pending: set[str] = set()  # queued or being written
        self._batch_size = batch_size
        self._flush_s = flush_s
        self._retention_s = retention_s
        self._retention_rows = retention_rows
        self._prune_every_s = prune_every_s
        self._reopen_s = reopen_s
        self._clock = clock
        self._next_open = 0.0
        self._next_prune = clock() + prune_every_s
        self._task: asyncio.Task[None] | None = None
        self.metrics = LogMetrics(registry)
        self.metrics.queued.set_function(self._queue.qsize)
        self.dropped = {"queue_full": 0, "store_error": 0}
        self.written = 0

    # ---- request path ---------------------------------------------------------------

    def submit(self, record: DecisionRecord) -> bool:
        """Queue one row; False (and counted) when the queue is full. Never waits."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._drop("queue_full", 1)
            return False
        self._pending.add(record.decision_id)
        return True

    # ---- feedback -------------------------------------------------------------------

    async def find(self, decision_id: str, wait_s: float = 2.0) -> DecisionRecord | None:
        """The logged decision; waits (up to wait_s) for one still queued here."""
        await self.settled(decision_id, wait_s)
        return await self._open_store().get(decision_id)

    async def settled(self, decision_id: str, wait_s: float = 5.0) -> None:
        """Returns once a row queued here under this id was written or dropped (or after
        wait_s): shadow verdicts wait for their decision's row."""
        deadline = time.monotonic() + wait_s
        while decision_id in self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def put_verdict(self, verdict: Verdict) -> bool:
        return await self._open_store().put_verdict(verdict)

    def _open_store(self) -> DecisionStore:
        if self.store is None:
            raise DecisionStoreError("the decision store is not reachable")
        return self.store

    # ---- writer ---------------------------------------------------------------------

    async def start(self) -> None:
        await self._try_open()
        self._task = asyncio.create_task(self._run(), name="llmtriage-decision-log")

    async def aclose(self, drain_s: float = 5.0) -> None:
        """Write what is queued (bounded by drain_s), then close the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain(), drain_s)
        if self.store is not None:
            await self.store.aclose()
            self.store = None

    async def flush(self) -> None:
        """Write everything queued so far, and wait for the batch being written (tests)."""
        await self._drain()
        while self._pending:
            await asyncio.sleep(0.005)

    async def _drain(self) -> None:
        while not self._queue.empty():
            await self._write(self._take())

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await asyncio.sleep(self._flush_s)  # let a batch gather: one transaction for many
            await self._write([first, *self._take(self._batch_size - 1)])
            if self._clock() >= self._next_prune:
                await self.prune()

    def _take(self, limit: int | None = None) -> list[DecisionRecord]:
        batch: list[DecisionRecord] = []
        while not self._queue.empty() and (limit is None or len(batch) < limit):
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[DecisionRecord]) -> None:
        if not batch:
            return
        try:
            if self.store is None and not await self._try_open():
                self._drop("store_error", len(batch))
                return
            assert self.store is not None
            await self.store.write(batch)
            self.written += len(batch)
            self.metrics.written.inc(len(batch))
        except DecisionStoreError as exc:
            self._drop("store_error", len(batch))
            log.warning("decision log: %d rows dropped: %s", len(batch), exc)
        finally:
            for record in batch:
                self._pending.discard(record.decision_id)

    async def _try_open(self) -> bool:
        now = self._clock()
        if now < self._next_open:
            return False
        try:
            self.store = await self._opener()
        except DecisionStoreError as exc:
            self._next_open = now + self._reopen_s
            log.error("decision log: store not reachable, rows dropped until it is: %s", exc)
            return False
        return True

    async def prune(self) -> int:
        """Retention: rows older than retention_s, then the oldest beyond retention_rows."""
        self._next_prune = self._clock() + self._prune_every_s
        if self.store is None or (self._retention_s is None and self._retention_rows is None):
            return 0
        before = None if self._retention_s is None else self._clock() - self._retention_s
        try:
            removed = await self.store.prune(before=before, max_rows=self._retention_rows)
        except DecisionStoreError as exc:
            log.warning("decision log: retention failed: %s", exc)
            return 0
        if removed:
            log.info("decision log: retention removed %d rows", removed)
        return removed

    def _drop(self, reason: str, n: int) -> None:
        self.dropped[reason] += n
        self.metrics.dropped.labels(reason).inc(n)


@asynccontextmanager
async def open_decision_log(
    settings: DecisionLogSettings,
    *,
    registry: CollectorRegistry | None,
    fallback_key: bytes | None = None,
) -> AsyncIterator[DecisionLog | None]:
    """The app's decision log while the block runs (None when the settings turn it off):
    its store opened (or retried, if unreachable now), its writer started; on exit, what
    is queued is written and the store closed."""
    if not settings.enabled:
        yield None
        return
    if settings.hash_key is not None:
        key = settings.hash_key.get_secret_value().encode()
    elif fallback_key is not None:
        key = fallback_key
    else:
        log.warning("decision_log.hash_key unset: prompt hashes keyed by a key made up at start")
        key = secrets.token_bytes(32)
    days = settings.retention_days
    decision_log = DecisionLog(
        lambda: open_decision_store(settings.url, timeout_s=settings.timeout_s),
        hash_key=key,
        log_prompts=settings.log_prompts,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        flush_s=settings.flush_s,
        retention_s=None if days is None else days * 86400.0,
        retention_rows=settings.retention_rows,
        prune_every_s=settings.prune_every_s,
        registry=registry,
    )
    await decision_log.start()
    try:
        yield decision_log
    finally:
        await decision_log.aclose()
