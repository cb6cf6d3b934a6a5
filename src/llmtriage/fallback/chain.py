"""The fallback chain: call deployments in order until one answers, within one deadline.

`Chain.run(targets, call)` is the one loop for whole answers and for streams alike:
`call(target, timeouts)` makes one attempt (for a stream: opens it and waits for the
first chunk) and raises a `ProviderCallError` on failure. What happens next is looked up
in taxonomy.py; waits come from retry.py; an open circuit breaker skips a deployment
without calling it. Every call and skip is kept as an `Attempt`.

With `enabled=False` the chain is the old single call: the first target only, no
retries, no breakers, and its error passes through unchanged; so does the last error of
a chain of one deployment.

The answering attempt's outcome reaches its breaker through `Answered.settle`: at once
for a whole answer, at the end for a stream (`settle_later=True`), since a stream can
still fail after its first chunk. When it does, `Answered.resume(call)` goes on down the
same chain (same deadline, same attempt list) with another call: the continuation of
the broken stream (fallback/resume.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from llmtriage.fallback.attempts import BREAKER_OPEN, DEADLINE, OK, Attempt
from llmtriage.fallback.breaker import Breakers, Permit, Ticket
from llmtriage.fallback.errors import ChainExhausted
from llmtriage.fallback.metrics import FallbackMetrics
from llmtriage.fallback.retry import RetryPolicy, Rng
from llmtriage.fallback.taxonomy import Action, Health, classify
from llmtriage.providers.base import Timeouts
from llmtriage.providers.errors import ProviderCallError

log = logging.getLogger(__name__)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Target(Protocol):
    """A deployment as the chain sees it (routing's ResolvedDeployment is one)."""

    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    @property
    def timeouts(self) -> Timeouts: ...

    @property
    def max_retries(self) -> int: ...


TT = TypeVar("TT", bound=Target)
V = TypeVar("V")
Settle = Callable[[ProviderCallError | None], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class ChainSettings:
    enabled: bool = True
    deadline_s: float = 300.0  # the whole request, every attempt and wait included
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(eq=False)
class Answered(Generic[TT, V]):
    value: V
    target: TT
    attempts: list[Attempt]  # every call and skip, the answering one last
    _settle: Settle
    _chain: Chain | None = None
    _run: _Run[TT] | None = None

    async def settle(self, error: ProviderCallError | None = None) -> None:
        """Report how the answer ended (None: complete); later calls do nothing."""
        await self._settle(error)

    @property
    def can_resume(self) -> bool:
        """Whether any deployment is left to go on to (when the answer breaks late)."""
        return self._run is not None and bool(self._run.queue)

    async def resume(self, call: Callable[[TT, Timeouts], Awaitable[V]]) -> Answered[TT, V]:
        """The rest of the chain with `call`, after this answer broke (settle it first).
        Raises ChainExhausted (or a fail-fast error) when none of it answers."""
        assert self._chain is not None and self._run is not None
        return await self._chain.resume(self._run, call)


@dataclass(eq=False)
class _Run(Generic[TT]):
    queue: list[TT]
    deadline: float
    attempts: list[Attempt] = field(default_factory=list)
    last_error: ProviderCallError | None = None


class Chain:
    def __init__(
        self,
        settings: ChainSettings,
        *,
        breakers: Breakers | None = None,
        metrics: FallbackMetrics | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Rng = random.random,
    ) -> None:
        self.settings = settings
        self.breakers = breakers if settings.enabled else None
        self.metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._rng = rng

    async def run(
        self,
        targets: Sequence[TT],
        call: Callable[[TT, Timeouts], Awaitable[V]],
        *,
        settle_later: bool = False,
    ) -> Answered[TT, V]:
        queue = list(targets) if self.settings.enabled else list(targets[:1])
        run = _Run(queue, self._clock() + self.settings.deadline_s)
        while run.queue:
            answered = await self._try(run, run.queue.pop(0), call)
            if answered is not None:
                if not settle_later:
                    await answered.settle(None)
                self._count_request("first" if answered.target is targets[0] else "fallback")
                return answered
        self._count_request("failed")
        if run.last_error is not None and (not self.settings.enabled or len(targets) == 1):
            # A chain of one: there was nothing to exhaust, and the deployment's own error
            # (a 429's Retry-After, a missing key's variable) says more.
            raise run.last_error
        raise ChainExhausted(run.attempts) from run.last_error

    async def resume(
        self, run: _Run[TT], call: Callable[[TT, Timeouts], Awaitable[V]]
    ) -> Answered[TT, V]:
        """Go on down `run`'s chain with another call (see `Answered.resume`)."""
        while run.queue:
            answered = await self._try(run, run.queue.pop(0), call)
            if answered is not None:
                self._count_request("resumed")
                return answered
        raise ChainExhausted(run.attempts) from run.last_error

    async def _try(
        self, run: _Run[TT], target: TT, call: Callable[[TT, Timeouts], Awaitable[V]]
    ) -> Answered[TT, V] | None:
        """Call one deployment (with its retries); None: go on with the rest of the chain."""
        ticket = await self._admit(run, target)
        if ticket is None:
            return None
        retry = 0
        while True:
            remaining = run.deadline - self._clock()
            if remaining <= 0:
                self._add(run, Attempt(deployment=target.name, kind=DEADLINE))
                run.queue.clear()
                return None
            started = self._clock()
            try:
                value = await call(target, _bounded(target.timeouts, remaining))
            except ProviderCallError as error:
                rule = classify(error)
                run.last_error = error
                self._add(run, Attempt.failed(target.name, error, self._clock() - started))
                await self._record(ticket, rule.health)
                if rule.action is Action.FAIL_FAST:
                    raise
                if rule.action is Action.LARGER_CONTEXT:
                    window = target.context_window
                    run.queue = [t for t in run.queue if t.context_window > window]
                    if not run.queue:
                        raise  # nothing larger to go to: the client learns why
                    return None
                wait = self._retry_wait(run, target, ticket, error, retry, rule.action)
                if wait is None:
                    return None
                await self._sleep(wait)
                retry += 1
            else:
                return self._answered(run, target, ticket, value, self._clock() - started)

    async def _admit(self, run: _Run[TT], target: TT) -> Ticket | None:
        if self.breakers is None:
            return Ticket(target.name, Permit.CALL)
        lease = max(0.001, min(run.deadline - self._clock(), target.timeouts.total))
        ticket = await self.breakers.allow(target.name, lease_s=lease)
        if ticket.permit is Permit.DENIED:
            self._add(run, Attempt(deployment=target.name, kind=BREAKER_OPEN))
            return None
        return ticket

    def _retry_wait(
        self,
        run: _Run[TT],
        target: TT,
        ticket: Ticket,
        error: ProviderCallError,
        retry: int,
        action: Action,
    ) -> float | None:
        if action is not Action.RETRY or not self.settings.enabled:
            return None
        if ticket.permit is Permit.PROBE:
            return None  # a failed probe re-opened the breaker
        if self.breakers is not None and self.breakers.known_open(target.name):
            return None  # this very failure opened it
        return self.settings.retry.wait(
            error,
            retry=retry,
            max_retries=target.max_retries,
            remaining_s=run.deadline - self._clock(),
            rng=self._rng,
        )

    def _answered(
        self, run: _Run[TT], target: TT, ticket: Ticket, value: V, latency_s: float
    ) -> Answered[TT, V]:
        index = len(run.attempts)
        run.attempts.append(Attempt(deployment=target.name, kind=OK, latency_s=latency_s))
        settled = False

        async def settle(error: ProviderCallError | None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            if error is not None:
                run.attempts[index] = Attempt.failed(target.name, error, latency_s)
            if self.metrics is not None:
                self.metrics.attempt(run.attempts[index])
            await self._record(ticket, Health.UP if error is None else classify(error).health)

        return Answered(value, target, run.attempts, settle, self, run)

    async def _record(self, ticket: Ticket, health: Health) -> None:
        if self.breakers is not None and health is not Health.UNKNOWN:
            await self.breakers.record(ticket, ok=health is Health.UP)

    def _add(self, run: _Run[TT], attempt: Attempt) -> None:
        run.attempts.append(attempt)
        if self.metrics is not None:
            self.metrics.attempt(attempt)
        log.debug("attempt: deployment=%s %s", attempt.deployment, attempt.reason())

    def _count_request(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.request(result)


def _bounded(timeouts: Timeouts, remaining_s: float) -> Timeouts:
    """The deployment's timeouts, its total cut to what is left of the request deadline."""
    if remaining_s >= timeouts.total:
        return timeouts
    return dataclasses.replace(timeouts, total=remaining_s)
