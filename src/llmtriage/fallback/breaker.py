"""Circuit breakers, one per deployment, shared by every replica through the store.

    closed ──(failure rate ≥ failure_rate over ≥ min_calls, or ≥ failure_count failures,
              within window_s; or `consecutive` failures in a row, at any rate)
           ──▶ open ──(cooldown_s)──▶ half-open: one probe
    half-open ──probe answers──▶ closed (window cleared)   ──probe fails──▶ open

State is a small JSON value under `KeySpace.breaker_state(deployment)`: absent or
{"s": "closed"}, {"s": "open", "until": t} or {"s": "half_open", "until": t} (t: wall
clock, so replicas agree). It changes only through `compare_and_set`, so exactly one
replica wins each transition and exactly one gets the probe; outcomes are counted by
the store's atomic `record_outcome`. A rate needs traffic (min_calls within window_s): a
deployment that is down while it gets a call every few seconds would never reach it, so
failures in a row trip it too. That streak is counted by each replica for its own calls
(a success anywhere in between would be missed, which only delays the trip); the trip
itself is shared like any other. The same recipe is checked against every store in
tests/store/test_contract.py. Redis down: FailOpenStore answers from local memory, and
each replica then keeps its own breakers until Redis is back.

An open breaker is remembered locally until its cooldown ends (it cannot close sooner:
only a probe closes it, and the probe waits for the cooldown), so skipping an open
deployment costs no store call at all. A closed one is trusted for `sync_s` after it was
read: this replica's own transitions take effect at once, another replica's reach it
within `sync_s`, and a busy deployment costs one state read per `sync_s`, not per call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum

from llmtriage.store.base import Store
from llmtriage.store.errors import StoreUnavailable
from llmtriage.store.keys import KeySpace

log = logging.getLogger(__name__)
Clock = Callable[[], float]
CLOSED_RAW = b'{"s":"closed"}'


class BreakerState(IntEnum):
    """Values double as the Prometheus gauge's."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Permit(Enum):
    CALL = "call"  # closed: call, and count the outcome
    PROBE = "probe"  # this call is the one half-open probe
    DENIED = "denied"  # open, or another replica's probe is out


@dataclass(frozen=True, kw_only=True)
class BreakerSettings:
    window_s: float = 30.0
    min_calls: int = 10
    failure_rate: float = 0.5
    failure_count: int | None = None
    consecutive: int | None = 5  # failures in a row that trip it whatever the rate
    cooldown_s: float = 15.0
    sync_s: float = 0.25

    def __post_init__(self) -> None:
        if self.window_s < 0.1 or self.cooldown_s <= 0 or self.min_calls < 1:
            raise ValueError("need window_s >= 0.1, cooldown_s > 0 and min_calls >= 1")
        if self.sync_s < 0:
            raise ValueError("sync_s must not be negative")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.consecutive is not None and self.consecutive < 1:
            raise ValueError("consecutive must be at least 1")

    def trips(self, failures: int, total: int, streak: int = 0) -> bool:
        if self.consecutive is not None and streak >= self.consecutive:
            return True
        if self.failure_count is not None and failures >= self.failure_count:
            return True
        return total >= self.min_calls and failures >= self.failure_rate * total

    @property
    def state_ttl_s(self) -> float:
        """Abandoned state expires (a deployment removed from the config, a test prefix)."""
        return max(3600.0, 4 * self.cooldown_s)


@dataclass(frozen=True)
class Ticket:
    """What `allow` decided, and the state it saw (the compare in a later compare-and-set)."""

    deployment: str
    permit: Permit
    seen: bytes | None = None


class Breakers:
    def __init__(
        self,
        store: Store,
        settings: BreakerSettings,
        *,
        keys: KeySpace | None = None,
        clock: Clock = time.time,
        on_state: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.keys = keys or KeySpace()
        self._clock = clock
        self._on_state = on_state
        self._open_until: dict[str, float] = {}
        self._closed: dict[str, tuple[float, bytes | None]] = {}  # (trusted until, raw state)
        self._streak: dict[str, int] = {}  # this replica's failures in a row, per deployment

    async def allow(self, deployment: str, *, lease_s: float) -> Ticket:
        """May `deployment` be called now? A probe's lease (`lease_s`) bounds how long the
        other replicas wait for its outcome before probing themselves."""
        now = self._clock()
        until = self._open_until.get(deployment)
        if until is not None and now < until:
            return Ticket(deployment, Permit.DENIED)
        closed = self._closed.get(deployment)
        if closed is not None and now < closed[0]:
            return Ticket(deployment, Permit.CALL, closed[1])
        key = self.keys.breaker_state(deployment)
        try:
            seen = await self.store.get(key)
        except StoreUnavailable as exc:  # a bare RedisStore: fail open
            log.debug("breaker state unreadable, allowing %s: %s", deployment, exc)
            return Ticket(deployment, Permit.CALL)
        state, until = _parse(seen)
        self._observe(deployment, state)
        if state is BreakerState.CLOSED:
            self._trust_closed(deployment, seen, now)
            return Ticket(deployment, Permit.CALL, seen)
        self._closed.pop(deployment, None)
        if now < until:
            if state is BreakerState.OPEN:
                self._open_until[deployment] = until
            return Ticket(deployment, Permit.DENIED, seen)
        # Cooldown over, or the last probe's lease ran out: race for the single probe.
        lease = _encode(BreakerState.HALF_OPEN, now + lease_s)
        if await self._cas(key, seen, lease):
            self._observe(deployment, BreakerState.HALF_OPEN)
            return Ticket(deployment, Permit.PROBE, lease)
        return Ticket(deployment, Permit.DENIED, seen)

    def known_open(self, deployment: str) -> bool:
        """Open as far as this replica knows, without asking the store."""
        until = self._open_until.get(deployment)
        return until is not None and self._clock() < until

    async def record(self, ticket: Ticket, *, ok: bool) -> None:
        """Count the outcome of a call `allow` permitted."""
        if ticket.permit is Permit.PROBE:
            await self._settle_probe(ticket, ok=ok)
        elif ticket.permit is Permit.CALL:
            await self._count(ticket, ok=ok)

    async def _settle_probe(self, ticket: Ticket, *, ok: bool) -> None:
        dep, now = ticket.deployment, self._clock()
        new = CLOSED_RAW if ok else _encode(BreakerState.OPEN, now + self.settings.cooldown_s)
        if not await self._cas(self.keys.breaker_state(dep), ticket.seen, new):
            return  # the lease ran out and another replica probes now
        if ok:
            self._open_until.pop(dep, None)
            self._streak.pop(dep, None)
            self._trust_closed(dep, CLOSED_RAW, now)
            with contextlib.suppress(StoreUnavailable):  # closed starts afresh
                await self.store.delete(self.keys.breaker_window(dep))
            self._observe(dep, BreakerState.CLOSED)
        else:
            self._opened(dep, now + self.settings.cooldown_s)

    async def _count(self, ticket: Ticket, *, ok: bool) -> None:
        dep, now, s = ticket.deployment, self._clock(), self.settings
        streak = self._streak[dep] = 0 if ok else self._streak.get(dep, 0) + 1
        try:
            failures, total = await self.store.record_outcome(
                self.keys.breaker_window(dep), ok, now, s.window_s
            )
        except StoreUnavailable:
            return  # a bare store that is down: fail open, as `allow` does
        if ok or not s.trips(failures, total, streak):
            return
        until = now + s.cooldown_s
        if await self._cas(
            self.keys.breaker_state(dep), ticket.seen, _encode(BreakerState.OPEN, until)
        ):
            log.warning(
                "circuit breaker open: deployment=%s failures=%d/%d in %.0f s, %d in a row",
                dep,
                failures,
                total,
                s.window_s,
                streak,
            )
            self._opened(dep, until)
        else:
            self._closed.pop(dep, None)  # what we saw is stale: read afresh next time

    def _opened(self, deployment: str, until: float) -> None:
        self._open_until[deployment] = until
        self._streak.pop(deployment, None)
        self._closed.pop(deployment, None)
        self._observe(deployment, BreakerState.OPEN)

    def _trust_closed(self, deployment: str, seen: bytes | None, now: float) -> None:
        if self.settings.sync_s > 0:
            self._closed[deployment] = (now + self.settings.sync_s, seen)

    async def _cas(self, key: str, expected: bytes | None, new: bytes) -> bool:
        try:
            return await self.store.compare_and_set(
                key, expected, new, ttl_s=self.settings.state_ttl_s
            )
        except StoreUnavailable:
            return False

    def _observe(self, deployment: str, state: BreakerState) -> None:
        if self._on_state is not None:
            self._on_state(deployment, state)


def _encode(state: BreakerState, until: float) -> bytes:
    name = "open" if state is BreakerState.OPEN else "half_open"
    return json.dumps({"s": name, "until": round(until, 3)}, separators=(",", ":")).encode()


_STATES = {
    "closed": BreakerState.CLOSED,
    "open": BreakerState.OPEN,
    "half_open": BreakerState.HALF_OPEN,
}


def _parse(raw: bytes | None) -> tuple[BreakerState, float]:
    """(state, until); anything unreadable counts as closed rather than blocking traffic."""
    if raw is None:
        return BreakerState.CLOSED, 0.0
    try:
        value = json.loads(raw)
        return _STATES[value["s"]], float(value.get("until", 0.0))
    except (ValueError, KeyError, TypeError):
        return BreakerState.CLOSED, 0.0
